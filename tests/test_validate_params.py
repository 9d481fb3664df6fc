"""validate_params: constraints declared once, checked at the door, the body left bare."""

import pytest

from tipslib._checks import LR, POSITIVE, Int, OneOf, Optional, validate_params


def _needs_positive_momentum(args, owner):
    if args["nesterov"] and args["momentum"] <= 0:
        raise ValueError(f"The 'nesterov' parameter of {owner} needs momentum > 0.")


@validate_params({"lr": LR}, _needs_positive_momentum, eps=POSITIVE, n=Optional(Int(low=1)),
                 mode=OneOf("min", "max"))
def step(x, *, lr, eps=1e-8, n=None, mode="min", momentum=0.0, nesterov=False):
    return x * lr


class Opt:
    @validate_params(lr=LR)
    def __init__(self, lr=1e-3):
        self.lr = lr


class SubOpt(Opt):
    pass


def test_good_arguments_reach_the_body():
    assert step(2.0, lr=0.5, n=None, mode="max") == 1.0


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(lr=-1.0), ValueError, "The 'lr' parameter of step must be a float in the range [0, inf). Got -1.0"),
    (dict(lr=float("inf")), ValueError, "Got inf instead"),
    (dict(lr="0.1"), TypeError, "The 'lr' parameter of step"),
    (dict(lr=0.1, eps=0.0), ValueError, "The 'eps' parameter of step must be a float in the range (0, inf)"),
    (dict(lr=0.1, n=0), ValueError, "The 'n' parameter of step must be an int in the range [1, inf)"),
    (dict(lr=0.1, mode="mean"), ValueError, "The 'mode' parameter of step must be one of {'min', 'max'}"),
    (dict(lr=0.1, nesterov=True), ValueError, "The 'nesterov' parameter of step needs momentum > 0"),
])
def test_bad_arguments_are_named(kwargs, error, text):
    with pytest.raises(error) as exc:
        step(1.0, **kwargs)
    assert text in str(exc.value)


def test_a_method_names_the_class_of_the_instance():
    with pytest.raises(ValueError, match="The 'lr' parameter of SubOpt must"):
        SubOpt(lr=-1)


def test_the_bare_function_skips_the_checks():
    assert step.__wrapped__(2.0, lr=-1.0) == -2.0


def test_a_typo_in_a_declaration_fails_at_import():
    with pytest.raises(TypeError, match="no parameter"):
        validate_params(lrr=LR)(lambda x, lr: x)


def test_wrong_call_signatures_stay_pythons_type_errors():
    with pytest.raises(TypeError):
        step(1.0)  # lr missing


def test_several_declarations_combine_and_a_bad_rule_fails_at_import():
    @validate_params({"lr": LR}, {"eps": POSITIVE})
    def f(*, lr, eps):
        return lr + eps

    with pytest.raises(ValueError, match="'eps' parameter of f"):
        f(lr=0.1, eps=0.0)
    with pytest.raises(TypeError, match="must be callable or a dict"):
        validate_params({"lr": LR}, 3)
