"""Names shared across rnnlens, in one light module (no torch), so the CLI's ``--help`` stays fast."""

# The four architectures of the paper, in the paper's table order.
ARCHS = ("vanilla", "ugrnn", "gru", "lstm")
# How tables and figures title them.
ARCH_TITLES = {"baseline": "bag of words", "vanilla": "vanilla", "ugrnn": "UGRNN", "gru": "GRU", "lstm": "LSTM"}

# The modifier words the analysis measures by default (negations and intensifiers; see rnnlens.analysis.modifiers).
DEFAULT_MODIFIERS = ("not", "n't", "never", "no", "hardly", "very", "extremely")
# Defaults shared by a library function and the analysis setting that calls it (written once here): the
# traced slow manifold's nodes and relaxation steps (rnnlens.manifold.trace_slow_manifold), and the size of
# the most positive / negative / neutral word groups (rnnlens.analysis.valence.valence_summary).
MANIFOLD_NODES = 64
RELAX_STEPS = 100
WORD_GROUP_SIZE = 100
# The paper's tolerance on q = (1/N)||F(h*, x*) - h*||^2: a point with q below it is a fixed point.
PAPER_TOL = 1e-8
