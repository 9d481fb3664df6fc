r"""The docstring contract of the twins (DESIGN.md, "The twins").

* A public NumPy name carries its formula (a ``.. math::`` block, or a
  ``:math:`` role for a one-liner) and a numpydoc "See Also" section that
  names the torch built-in and how ours differs, or says torch has none.
  A layer, loss or optimizer class may instead name, in its See Also, the
  function of its topic that carries the formula.
* A public torch name points to its NumPy twin (and lists differences only).
* Every formula is LaTeX the course can render: balanced braces and
  environments, and :func:`tipslib.site.math.to_mathml` (latex2mathml, what the
  site uses for the chapters' math) converts it.
* Every torch/torchvision/sklearn name a See Also cites exists (when its
  package is installed).

Names that need less are listed below, each with its reason; a listed name
that meets the contract anyway fails ``test_exemptions_are_needed``.
"""

import importlib
import inspect
import re
import textwrap
from collections import Counter

import pytest

from tipslib.site.math import MathError, to_mathml

TOPICS = ["augment", "layers", "losses", "init", "optim", "regularization", "training", "transfer", "gradcheck"]

#: Public NumPy names that need no formula (they still need a See Also naming their torch counterpart).
NO_FORMULA = {
    "augment.Compose": "a container: runs other transforms in turn",
    "layers.Module": "the base class of the layers: bookkeeping, no math",
    "layers.Sequential": "a container: chains layers; the math is in each layer",
    "optim.Optimizer": "the base class of the optimizers: bookkeeping, no update rule",
    "regularization.EarlyStopping": "a stopping rule, stated in words (patience, min_delta)",
    "training.minibatches": "index bookkeeping: slices of a permutation; num_batches has the count formula",
    "training.fit": "the training loop; its math is in the loss, the layers and the optimizer",
    "transfer.make_mlp": "builds a model; its layers carry the math",
    "transfer.Frozen": "model surgery: moves arrays from params to buffers",
    "transfer.freeze": "model surgery: which arrays train",
    "transfer.unfreeze": "model surgery: which arrays train",
    "transfer.trainable_params": "bookkeeping: a dict of the arrays to train",
    "transfer.load_pretrained": "reads shipped weights into a model",
    "transfer.transfer_model": "builds a model for one regime: pretrained weights and freezing",
    "transfer.stratified_subset": "sampling bookkeeping: rows dealt out class by class",
    "gradcheck.check_model_gradients": "runs gradient_check (which carries the formula) on every parameter",
}

#: Public NumPy names that need neither a formula nor a See Also.
NO_CONTRACT = {
    "transfer.REGIMES": "a constant (a tuple of names): no docstring of its own",
    "transfer.SIZES": "a constant (a tuple of sizes): no docstring of its own",
    "transfer.NUM_CLASSES": "a constant (an int): no docstring of its own",
    "transfer.HIDDEN_LAYERS": "a constant (a tuple of widths): no docstring of its own",
    "transfer.TransferResults": "a result container: holds accuracies, computes nothing",
    "transfer.pretrained_path": "a file path inside the package; no math, no torch counterpart",
    "transfer.source_task": "the course's pretraining data set; no torch counterpart",
    "transfer.target_task": "the course's target data set; no torch counterpart",
    "transfer.transfer_experiment": "the chapter's whole experiment, built from the other functions",
    "training.History": "a result container: what fit measured",
    "training.OverfitResult": "a result container: what overfit_small_batch saw",
    "gradcheck.GradientCheck": "a result container: the checks of all parameters",
    "gradcheck.ParameterCheck": "a result container: the check of one parameter",
    "gradcheck.GradientCheckWarning": "a warning category",
}

ROLE = re.compile(r":math:`([^`]*)`")
SECTION = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.M)
CITED = re.compile(r"\b((?:torch|torchvision|sklearn|keras)(?:\.[A-Za-z_]\w*)+)")


def _modules(topic):
    return (importlib.import_module(f"tipslib.{topic}.numpy_impl"),
            importlib.import_module(f"tipslib.{topic}.torch_impl"))


def _doc(obj):
    """The object's own docstring (a constant's type docstring does not count)."""
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or callable(obj)):
        return ""
    return inspect.getdoc(obj) or ""


NUMPY_NAMES = [f"{t}.{n}" for t in TOPICS for n in _modules(t)[0].__all__]
TORCH_NAMES = [f"{t}.{n}" for t in TOPICS for n in _modules(t)[1].__all__]


def _numpy(key):
    topic, name = key.split(".")
    return getattr(_modules(topic)[0], name)


def _torch(key):
    topic, name = key.split(".")
    return getattr(_modules(topic)[1], name)


def section(doc, title):
    """The body of the numpydoc section ``title`` of ``doc``, or None."""
    heads = list(SECTION.finditer(doc))
    for k, m in enumerate(heads):
        if m.group(1) == title:
            end = heads[k + 1].start() if k + 1 < len(heads) else len(doc)
            return doc[m.end():end]
    return None


def formulas(doc):
    """The LaTeX of every ``.. math::`` block and ``:math:`` role of ``doc``."""
    found, lines = [], doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(".. math::"):
            indent = len(line) - len(line.lstrip())
            first = line.strip()[len(".. math::"):].strip()  # ".. math:: x" puts the formula on the directive line
            body = []
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                body.append(nxt)
            rest = textwrap.dedent("\n".join(body)).strip()
            found.append("\n".join(part for part in (first, rest) if part))
    return found + ROLE.findall(doc)


def has_formula(doc):
    return bool(formulas(doc))


def _formula_by_reference(key, obj, doc):
    """A class whose See Also names a function of its topic that carries the formula."""
    if not inspect.isclass(obj):
        return False
    see_also = section(doc, "See Also") or ""
    topic = key.split(".")[0]
    np_mod = _modules(topic)[0]
    for name in re.findall(r"^(\w+)\b", see_also, re.M):
        target = getattr(np_mod, name, None) if name in np_mod.__all__ else None
        if inspect.isfunction(target) and has_formula(_doc(target)):
            return True
    return False


def check_latex(tex):
    """Raise AssertionError/MathError unless ``tex`` is balanced and latex2mathml renders it."""
    bare = re.sub(r"\\[{}]", "", tex)  # \{ and \} are literal braces
    depth = 0
    for c in bare:
        depth += {"{": 1, "}": -1}.get(c, 0)
        assert depth >= 0, f"a '}}' closes nothing in {tex!r}"
    assert depth == 0, f"{depth} unclosed '{{' in {tex!r}"
    assert Counter(re.findall(r"\\begin\{(\w+\*?)\}", tex)) == Counter(re.findall(r"\\end\{(\w+\*?)\}", tex)), \
        f"unmatched \\begin/\\end in {tex!r}"
    assert len(re.findall(r"\\left\b", tex)) == len(re.findall(r"\\right\b", tex)), f"\\left/\\right in {tex!r}"
    # What Sphinx does with a ``.. math::`` block: several lines joined by \\ (aligned on &) form one
    # aligned display. And \_ in \text{...} is LaTeX's underscore, which latex2mathml prints as "\_".
    render = re.sub(r"\\text\{([^{}]*)\}", lambda m: r"\text{" + m.group(1).replace(r"\_", "_") + "}", tex)
    if ("\\\\" in render or "&" in render) and not render.lstrip().startswith("\\begin"):
        render = r"\begin{aligned}" + render + r"\end{aligned}"
    to_mathml(render, display=True)


# --- the NumPy twin ------------------------------------------------------------------------


@pytest.mark.parametrize("key", NUMPY_NAMES)
def test_numpy_docstring_has_see_also_naming_torch(key):
    if key in NO_CONTRACT:
        return
    doc = _doc(_numpy(key))
    see_also = section(doc, "See Also")
    assert see_also is not None, f"{key}: no 'See Also' section (name the torch built-in, or say there is none)"
    assert "torch" in see_also, f"{key}: its See Also names no torch built-in (nor says torch has none)"


@pytest.mark.parametrize("key", NUMPY_NAMES)
def test_numpy_docstring_has_formula(key):
    if key in NO_CONTRACT or key in NO_FORMULA:
        return
    obj = _numpy(key)
    doc = _doc(obj)
    assert has_formula(doc) or _formula_by_reference(key, obj, doc), (
        f"{key}: no '.. math::' block (a class may name its math function in See Also instead)")


def test_exemptions_are_needed():
    """Every exemption names a public name, and one that meets the contract anyway is stale."""
    assert not set(NO_FORMULA) & set(NO_CONTRACT)
    for key, why in {**NO_FORMULA, **NO_CONTRACT}.items():
        assert key in NUMPY_NAMES, f"exemption for {key}, which is not a public NumPy name"
        assert why.strip(), f"{key}: an exemption needs its reason"
    for key in NO_CONTRACT:
        doc = _doc(_numpy(key))
        assert not (section(doc, "See Also") and has_formula(doc)), f"{key} meets the contract: drop its exemption"
    for key in NO_FORMULA:
        assert not has_formula(_doc(_numpy(key))), f"{key} has a formula: drop its exemption"


# --- the torch twin ------------------------------------------------------------------------


@pytest.mark.parametrize("key", TORCH_NAMES)
def test_torch_docstring_points_to_its_twin(key):
    topic, name = key.split(".")
    np_mod, th_mod = _modules(topic)
    obj = _torch(key)
    if getattr(np_mod, name, None) is obj:
        return  # one object shared by both twins (a constant, a result container, a converter)
    doc = _doc(obj)
    if name in getattr(th_mod, "TORCH_ONLY", ()):
        # No twin: it must name the NumPy math it runs.
        named = set(re.findall(r"`(\w+)`", doc)) & set(np_mod.__all__)
        assert named, f"{key} (torch-only) names none of the NumPy functions it runs"
        return
    assert re.search(rf"NumPy ``{name}``|numpy_impl\.{name}\b", doc), (
        f"{key}: its docstring must point to its twin ('Twin of the NumPy ``{name}``') and list differences only")


# --- every formula and citation ------------------------------------------------------------


def _all_docs():
    for key in NUMPY_NAMES:
        yield f"numpy:{key}", _doc(_numpy(key))
    for key in TORCH_NAMES:
        yield f"torch:{key}", _doc(_torch(key))


DOCS = [(k, d) for k, d in _all_docs() if d]


@pytest.mark.parametrize("key, doc", DOCS, ids=[k for k, _ in DOCS])
def test_formulas_render(key, doc):
    for tex in formulas(doc):
        assert tex, f"{key}: an empty formula"
        try:
            check_latex(tex)
        except MathError as e:
            pytest.fail(f"{key}: {tex!r} does not render: {e}")


@pytest.mark.parametrize("key, doc", DOCS, ids=[k for k, _ in DOCS])
def test_no_control_characters(key, doc):
    """A backslash escape in a non-raw docstring (``\\tanh``, ``\\frac``) turns into a control character."""
    bad = sorted({repr(c) for c in doc if ord(c) < 32 and c != "\n"})
    assert not bad, f"{key}: {bad} in its docstring (make it a raw string r\"\"\"...\"\"\")"


def _resolve(dotted):
    parts = dotted.split(".")
    try:
        obj = importlib.import_module(parts[0])
    except ImportError:
        return True  # the package is not installed here (torchvision, keras): nothing to check
    for i, part in enumerate(parts[1:], start=1):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        try:
            obj = importlib.import_module(".".join(parts[:i + 1]))
        except ImportError:
            return False
    return True


@pytest.mark.parametrize("key, doc", DOCS, ids=[k for k, _ in DOCS])
def test_cited_names_exist(key, doc):
    see_also = section(doc, "See Also") or ""
    for dotted in CITED.findall(see_also):
        assert _resolve(dotted.rstrip(".")), f"{key}: See Also cites {dotted}, which does not exist"


# --- the checks themselves -----------------------------------------------------------------


@pytest.mark.parametrize("tex", [r"\frac{a}{b", r"a}", r"\begin{cases} a \end{aligned}", r"\left( x"])
def test_check_latex_refuses_unbalanced(tex):
    with pytest.raises((AssertionError, MathError)):
        check_latex(tex)


def test_check_latex_accepts_sphinx_blocks():
    check_latex("a &= b \\\\\nc &= \\text{max\\_angle}")


def test_section_and_formulas_parse_numpydoc():
    doc = ("Sum.\n\n.. math::\n\n    s = \\sum_i x_i\n\n.. math:: a = b\n          + c\n\n"
           "See Also\n--------\ntorch.sum : same.\n")
    assert formulas(doc) == ["s = \\sum_i x_i", "a = b\n+ c"]
    assert section(doc, "See Also").strip() == "torch.sum : same."
    assert section(doc, "Parameters") is None
