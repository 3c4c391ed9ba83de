"""Names shared across rnnlens, in one light module (no torch), so the CLI's ``--help`` stays fast."""

# The four architectures of the paper, in the paper's table order.
PAPER_ARCHS = ("vanilla", "ugrnn", "gru", "lstm")
# Cells whose state update is elementwise linear at a fixed input (minimal gated RNNs, the linear recurrent unit, a
# selective state-space layer): trained by a chunked scan, their fixed points and spectra have closed forms.
DIAGONAL_ARCHS = ("mingru", "minlstm", "lru", "s6")
# Every architecture rnnlens builds by name.
ARCHS = PAPER_ARCHS + DIAGONAL_ARCHS
# How a weight matrix is drawn at the start of training (rnnlens.cells.Cell.initialize), block by block (one block
# of N rows per gate): "default" keeps torch's uniform(-1/sqrt(N), 1/sqrt(N)); "normal" draws N(0, gain^2 / fan_in)
# (fan_in: N for the recurrent weights, I for the input weights; a recurrent block's spectral radius is then about
# gain); "orthogonal" is gain times a random (semi-)orthogonal matrix (every singular value = gain).
INITS = ("default", "normal", "orthogonal")
# How the embedding is drawn at the start of training (rnnlens.model.SentimentRNN.initialize_embedding): "default"
# keeps torch's N(0, 1) per entry; "orthogonal" makes its [vocab, embed] matrix's columns orthonormal (entries about
# 1/sqrt(vocab): a small embedding, the paper authors' choice), the padding row zero either way.
EMBEDDING_INITS = ("default", "orthogonal")
# Where every document's state starts: zeros, or a trained initial state (the cell's parameter h0).
INITIAL_STATES = ("zero", "learned")
# How tables and figures title them.
ARCH_TITLES = {
    "baseline": "bag of words",
    "vanilla": "vanilla",
    "ugrnn": "UGRNN",
    "gru": "GRU",
    "lstm": "LSTM",
    "mingru": "minGRU",
    "minlstm": "minLSTM",
    "lru": "LRU",
    "s6": "S6",
}

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
