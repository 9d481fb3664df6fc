"""tipslib.traffic: the bytes a function moves, counted eagerly (kernel by kernel) and compiled
(inductor's count), and what the twins' fast paths move against the least their formulas allow."""

from __future__ import annotations

import doctest

import pytest
import torch

import tipslib.traffic as traffic_module
from tipslib.layers._torch import batchnorm as B
from tipslib.layers._torch import dropout as D
from tipslib.optim import torch_impl as TO
from tipslib.optim._torch.adam import _adam_foreach
from tipslib.traffic import Traffic, compiled_count_unavailable, compiled_traffic, eager_traffic, fused_step_traffic

N = 4096
F32 = 4
#: inductor's count needs a C++ compiler and a torch whose inductor counts (2.13 on CI has both)
_WHY_NOT_COUNTED = compiled_count_unavailable()
COUNTED = pytest.mark.skipif(_WHY_NOT_COUNTED is not None, reason=str(_WHY_NOT_COUNTED))


def _randn(*shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ eager: kernel by kernel

def test_each_kernel_counts_what_it_reads_and_writes():
    x, y = _randn(N), _randn(N, seed=1)
    # x * y: read 2 arrays, write 1; .add_(1): read 1, write 1 (in place)
    assert eager_traffic(lambda: (x * y).add_(1)) == Traffic(5 * F32 * N, 2)


def test_a_copy_only_writes_where_it_lands():
    x, y = _randn(N), torch.empty(N)
    assert eager_traffic(lambda: y.copy_(x)) == Traffic(2 * F32 * N, 1)
    assert eager_traffic(lambda: y.zero_()) == Traffic(F32 * N, 1)
    xs, ys = [_randn(N // 4, seed=i) for i in range(4)], [torch.empty(N // 4) for _ in range(4)]
    assert eager_traffic(lambda: torch._foreach_copy_(ys, xs)) == Traffic(2 * F32 * N, 1)
    assert eager_traffic(lambda: y.mul_(2)) == Traffic(2 * F32 * N, 1)  # an in-place op that reads its tensor


def test_a_tensor_passed_twice_is_read_once():
    x = _randn(N)
    assert eager_traffic(lambda: x * x) == Traffic(2 * F32 * N, 1)


def test_an_out_buffer_is_only_written():
    x, y, out = _randn(N), _randn(N, seed=1), torch.empty(N)
    assert eager_traffic(lambda: torch.mul(x, y, out=out)) == Traffic(3 * F32 * N, 1)


def test_views_and_empty_buffers_move_nothing():
    x = _randn(64, 64)
    assert eager_traffic(lambda: (x.view(-1), x.t(), x[::2], x.reshape(64, 64), torch.empty_like(x))) == Traffic(0, 0)


def test_an_in_place_foreach_kernel_reads_and_writes_every_tensor():
    xs = [_randn(N), _randn(2 * N, seed=1)]
    assert eager_traffic(lambda: torch._foreach_mul_(xs, 2.0)) == Traffic(2 * F32 * 3 * N, 1)


def test_the_twins_foreach_adam_moves_the_18_arrays_chapter_3_counts():
    p, g, m, v = (_randn(N, seed=s) for s in range(4))
    counted = eager_traffic(_adam_foreach, [p], [g], [m], [v], None, [3], lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False)
    assert counted.per_element(N) == 18 * F32 and counted.kernels == 7


def test_the_module_example_holds():
    assert doctest.testmod(traffic_module).failed == 0


def test_the_function_really_runs():
    x = torch.zeros(3)
    eager_traffic(lambda: x.add_(1))
    assert torch.equal(x, torch.ones(3))


@pytest.mark.parametrize("call, error, words", [
    (lambda: eager_traffic(3), TypeError, ["'fn' parameter of eager_traffic", "callable", "3"]),
    (lambda: compiled_traffic("x * 2"), TypeError, ["'fn' parameter of compiled_traffic", "callable"]),
    (lambda: Traffic(8, 1).per_element(0), ValueError, ["'n' parameter of Traffic", "[1, inf)", "0"]),
    (lambda: Traffic(8, 1).per_element(2.5), TypeError, ["'n' parameter of Traffic", "int", "2.5"]),
    (lambda: fused_step_traffic(torch.optim.Adam([torch.zeros(2, requires_grad=True)], fused=True)), TypeError,
     ["'optimizer' parameter of fused_step_traffic", "tipslib twin optimizer", "Adam"]),
], ids=["eager-fn", "compiled-fn", "n-zero", "n-float", "torch-optimizer"])
def test_bad_input_is_refused_by_name(call, error, words):
    with pytest.raises(error) as refused:
        call()
    for word in words:
        assert word in str(refused.value), (word, str(refused.value))


# ------------------------------------------------------------------ compiled: inductor's count

@pytest.mark.slow
@COUNTED
def test_compiling_fuses_two_kernels_into_one_and_counts_afresh_each_time():
    x, y = _randn(N), _randn(N, seed=1)
    step = lambda x, y: (x * y).add_(1)  # noqa: E731
    for _ in range(2):  # the second compile is counted too, not served from a cache
        assert compiled_traffic(step, x, y) == Traffic(3 * F32 * N, 1)


@pytest.mark.slow
@COUNTED
def test_a_function_that_compiles_to_nothing_is_an_error():
    with pytest.raises(RuntimeError, match="did not compile"):
        compiled_traffic(lambda: 3)


def _optimizer(cls, kw, fused=True):
    param = torch.zeros(N, requires_grad=True)
    param.grad = _randn(N)
    opt = cls([param], fused=fused, **kw)
    opt.step()  # the state; SGD's momentum buffer is made on the plain path
    return opt


@pytest.mark.slow
@COUNTED
@pytest.mark.parametrize("cls, kw, arrays", [
    (TO.Adam, {}, 7),                                   # read p, g, m, v; write p, m, v
    (TO.Adam, dict(amsgrad=True, weight_decay=0.1), 9),  # and read and write max_exp_avg_sq
    (TO.AdamW, {}, 7),
    (TO.SGD, dict(lr=0.1), 3),                          # read p, g; write p
    (TO.SGD, dict(lr=0.1, momentum=0.9, nesterov=True), 5),  # and read and write the buffer
    (TO.RMSprop, {}, 5),                                # read p, g, square_avg; write p, square_avg
    (TO.RMSprop, dict(centered=True, momentum=0.9), 9),  # and grad_avg, momentum_buffer
    (TO.Adagrad, {}, 5),                                # read p, g, sum; write p, sum
], ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_a_fused_twin_step_moves_each_array_once_in_one_kernel(cls, kw, arrays):
    counted = fused_step_traffic(_optimizer(cls, kw))
    assert counted.kernels == 1
    assert arrays * F32 <= counted.per_element(N) < arrays * F32 + 0.01  # the 0-d lr and step


@pytest.mark.slow
@COUNTED
def test_the_flat_layout_moves_each_array_once_in_one_kernel_for_the_whole_group(monkeypatch):
    """A group over FUSED_PER_TENSOR_MAX: one kernel over one flat buffer, Adam's 7 arrays (the copies
    in and out of the buffer are eager, not counted here)."""
    from tipslib.optim._torch import fused
    monkeypatch.setattr(fused, "FUSED_PER_TENSOR_MAX", 2)
    params = [torch.zeros(N // 4, requires_grad=True) for _ in range(4)]
    for i, p in enumerate(params):
        p.grad = _randn(N // 4, seed=i)
    opt = TO.Adam(params, fused=True)
    opt.step()
    counted = fused_step_traffic(opt)
    assert counted.kernels == 1
    assert 7 * F32 <= counted.per_element(N) < 7 * F32 + 0.01


@pytest.mark.slow
def test_an_optimizer_that_did_not_run_compiled_is_an_error():
    param = torch.zeros(N, requires_grad=True)
    param.grad = _randn(N)
    opt = TO.SGD([param], lr=0.1, momentum=0.9, fused=True)  # the first step makes the buffer, plainly
    with pytest.raises(RuntimeError, match="ran compiled"):
        fused_step_traffic(opt)


@pytest.mark.slow
@COUNTED
@pytest.mark.parametrize("shape", [(1024, 16), (16, 16, 8, 8)], ids=["1d", "2d"])
def test_the_batchnorm_fast_path_moves_torchs_32_bytes_and_the_plain_twin_36(shape):
    c = shape[1]
    x, dout = _randn(*shape), _randn(*shape, seed=1)
    per_element = {}
    for name, forward, backward in [("fast", B._fused_forward, B._fused_backward),
                                    ("plain", B.batchnorm_forward.__wrapped__, B.batchnorm_backward.__wrapped__)]:
        args = (x, torch.ones(c), torch.zeros(c), torch.zeros(c), torch.ones(c))
        _, cache = forward(*args, training=True)
        moved = compiled_traffic(forward, *args, training=True).bytes + compiled_traffic(backward, dout, cache).bytes
        per_element[name] = moved / x.numel()
    # forward: statistics (read x), out (read x, write out); backward: sums (read dout, x), dx (read both, write)
    assert 8 * F32 <= per_element["fast"] < 8 * F32 + 0.2  # plus the per-channel numbers
    assert 9 * F32 <= per_element["plain"] < 9 * F32 + 0.2  # it writes xhat and reads it back


@pytest.mark.slow
@COUNTED
def test_the_dropout_fast_path_draws_and_drops_in_one_pass_with_a_one_byte_mask():
    x, dout, p = _randn(N), _randn(N, seed=1), 0.3
    forward = compiled_traffic(D._draw_and_drop, x, p)
    # read x; write out and the mask (the uniform numbers stay in registers; + the seeds)
    assert forward.kernels == 1 and 2 * F32 + 1 <= forward.per_element(N) < 2 * F32 + 1.01
    _, mask = D._draw_and_drop(x, p)
    backward = compiled_traffic(D.dropout_backward.__wrapped__, dout, (mask, p))
    assert backward.kernels == 1 and backward.per_element(N) == 2 * F32 + 1  # read dout and the mask, write dx
