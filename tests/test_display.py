"""show_source: the math a reader needs, the checks only on request."""

import ast

from tipslib import show_source
from tipslib.layers import numpy_impl as L
from tipslib.regularization import numpy_impl as R


def _text(obj, **kw):
    out = show_source(obj, **kw)
    return out if isinstance(out, str) else out.data


def test_checks_and_reference_sections_are_left_out_by_default():
    text = _text(L.dropout_forward)
    ast.parse(text)  # still Python
    assert "check_" not in text and "owner" not in text and "else:" not in text
    assert "Parameters" not in text and "See Also" not in text
    assert ".. math::" in text and "mask = rng.random" in text and "argument checks left out" in text


def test_checks_true_shows_the_source_as_written():
    import inspect

    assert _text(L.dropout_forward, checks=True) == inspect.getsource(L.dropout_forward)


def test_an_if_that_raises_is_a_check_and_a_function_without_checks_is_unchanged():
    import inspect

    text = _text(R.EarlyStopping.on_epoch_end)
    assert "raise" not in text and "self.wait += 1" in text
    assert _text(L.dropout_backward) == inspect.getsource(L.dropout_backward)  # no sections, no checks
    assert _text(R.EarlyStopping) == inspect.getsource(R.EarlyStopping)        # classes whole
