"""Names shared across rnnlens, in one light module (no torch), so the CLI's ``--help`` stays fast."""

# The four architectures of the paper, in the paper's table order.
ARCHS = ("vanilla", "ugrnn", "gru", "lstm")
# How tables and figures title them.
ARCH_TITLES = {"baseline": "bag of words", "vanilla": "vanilla", "ugrnn": "UGRNN", "gru": "GRU", "lstm": "LSTM"}

# The modifier words the analysis measures by default (negations and intensifiers; see rnnlens.analysis.modifiers).
DEFAULT_MODIFIERS = ("not", "n't", "never", "no", "hardly", "very", "extremely")
# The paper's tolerance on q = (1/N)||F(h*, x*) - h*||^2: a point with q below it is a fixed point.
PAPER_TOL = 1e-8
