"""The torch twins under torch.distributed and torch.compile.

``DistributedDataParallel`` averages the gradients of the ranks. With a mean
loss and equal halves of each global batch, the mean of the two half-batch
gradients *is* the full-batch gradient, so 2 gloo processes on the CPU must end
with the weights of one process trained on the whole batches (up to float64
rounding of the sum order). Batch normalization breaks that equality on
purpose: each rank normalises its half with its own statistics (the twin is
``nn.BatchNorm1d``, not ``nn.SyncBatchNorm``), so with batch norm the single-process
reference is the mean of the two half-batch losses, each half through the model
on its own, with rank 0's running statistics (DDP broadcasts rank 0's buffers
at every forward) and the same dropout masks on both halves (each rank's
generator starts from the same seed).

The processes meet through a ``FileStore`` in the test's temporary folder and
gloo talks over the loopback interface only.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

from tipslib._compile import compile_unavailable
from tipslib.layers import torch_impl as TL
from tipslib.optim import torch_impl as TO

WORLD = 2
STEPS = 6
BATCH = 16  # global batch: each rank gets half
SEED = 0


def _batches(device="cpu"):
    gen = torch.Generator().manual_seed(123)
    xs = torch.randn(STEPS, BATCH, 8, dtype=torch.float64, generator=gen)
    ys = torch.randn(STEPS, BATCH, 1, dtype=torch.float64, generator=gen)
    return xs.to(device), ys.to(device)


def _model(case, device="cpu"):
    gen = torch.Generator().manual_seed(SEED)
    kw = {"generator": gen, "dtype": torch.float64}
    if case == "bn_dropout":
        drop_gen = torch.Generator(device).manual_seed(7)
        layers = [TL.Linear(8, 16, **kw), TL.BatchNorm1d(16, dtype=torch.float64), TL.ReLU(),
                  TL.Dropout(0.5, generator=drop_gen), TL.Linear(16, 1, **kw)]
    else:
        layers = [TL.Linear(8, 16, **kw), TL.ReLU(), TL.Dropout(0.0), TL.Linear(16, 1, **kw)]
    return TL.Sequential(*layers).to(device)


def _optimizer(case, params):
    if case == "sgd_momentum":
        return TO.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    return TO.Adam(params, lr=1e-2, weight_decay=1e-3)


def _dropouts(model):
    return [m for m in model.modules() if isinstance(m, TL.Dropout)]


def _worker(rank, world, store_path, out_dir, cases, backend):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    device = f"cuda:{rank}" if backend == "nccl" else "cpu"
    # One process group for every case: starting processes is the slow part.
    dist.init_process_group(backend, init_method=f"file://{store_path}", rank=rank, world_size=world)
    try:
        for case in cases:
            _train_ddp(rank, world, out_dir, case, device)
        # Tear down together: a rank that destroys the group while its peer's gloo threads still
        # hold work aborted that peer once in CI ("terminate called without an active exception").
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # And skip the interpreter's own teardown: work objects gloo still holds free their tensors
    # there, after Python is gone, and that aborted a rank in CI too (the same message; a known
    # torch issue, pytorch/pytorch#179291). Everything this worker makes is on disk by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _train_ddp(rank, world, out_dir, case, device):
    model = DDP(_model(case, device))
    opt = _optimizer(case, model.parameters())
    xs, ys = _batches(device)
    half = BATCH // world
    for x, y in zip(xs, ys):
        opt.zero_grad()
        mine = slice(rank * half, (rank + 1) * half)
        loss = torch.nn.functional.mse_loss(model(x[mine]), y[mine])
        loss.backward()
        opt.step()
    state = {k: v.detach().cpu() for k, v in model.module.state_dict().items()}
    torch.save(state, os.path.join(out_dir, f"{case}-rank{rank}.pt"))


def _single_process(case, halves, device="cpu"):
    """The reference: one process, the same global batches, no DDP."""
    model = _model(case, device)
    opt = _optimizer(case, model.parameters())
    xs, ys = _batches(device)
    for x, y in zip(xs, ys):
        opt.zero_grad()
        if halves == 1:
            loss = torch.nn.functional.mse_loss(model(x), y)
        else:
            # What DDP computes with per-rank batch statistics: the mean of the
            # ranks' losses, every rank starting from rank 0's buffers and the
            # same dropout generator state; rank 0's buffer update is kept.
            buffers = {k: b.clone() for k, b in model.named_buffers()}
            gens = [d.generator.get_state() for d in _dropouts(model)]
            half = BATCH // halves
            losses = []
            for r in reversed(range(halves)):  # rank 0 last, so its buffer update stays
                for k, b in model.named_buffers():
                    b.copy_(buffers[k])
                for d, g in zip(_dropouts(model), gens):
                    d.generator.set_state(g)
                mine = slice(r * half, (r + 1) * half)
                losses.append(torch.nn.functional.mse_loss(model(x[mine]), y[mine]))
            loss = torch.stack(losses).mean()
        loss.backward()
        opt.step()
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


CASES = {"adam": 1, "sgd_momentum": 1, "bn_dropout": WORLD}  # case: halves in the reference


def _spawn(folder, cases, backend="gloo", world=WORLD):
    mp.spawn(_worker, args=(world, str(folder / "store"), str(folder), cases, backend), nprocs=world, join=True)
    return {case: [torch.load(folder / f"{case}-rank{r}.pt") for r in range(world)] for case in cases}


@pytest.fixture(scope="module")
def gloo_states(tmp_path_factory):
    return _spawn(tmp_path_factory.mktemp("ddp"), list(CASES))


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_ddp_two_gloo_processes_match_one_process(gloo_states, case):
    expected = _single_process(case, CASES[case])
    start = _model(case).state_dict()
    params = {k for k, _ in _model(case).named_parameters()}
    for rank, state in enumerate(gloo_states[case]):
        assert state.keys() == expected.keys()
        # Buffers on rank 0 only: the others hold their own last update until
        # DDP's next forward would overwrite it with rank 0's.
        for k in expected if rank == 0 else params:
            torch.testing.assert_close(state[k], expected[k], rtol=1e-10, atol=1e-12,
                                       msg=lambda m, k=k, rank=rank: f"rank {rank}, {k}: {m}")
    # The test could not pass by training nothing: the weights moved.
    assert not torch.allclose(expected["0.weight"], start["0.weight"])


def test_bn_under_ddp_is_not_full_batch_bn():
    """The per-half reference differs from the full batch once batch norm is in the model,
    so the two references above are not the same test twice."""
    full, halves = _single_process("bn_dropout", 1), _single_process("bn_dropout", WORLD)
    assert not torch.allclose(full["0.weight"], halves["0.weight"], rtol=1e-6, atol=0)


@pytest.mark.slow
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available() or not dist.is_nccl_available(), reason="no GPU / NCCL")
def test_ddp_nccl_world_size_one_smoke(tmp_path):
    (state,) = _spawn(tmp_path, ["adam"], backend="nccl", world=1)["adam"]
    expected = _single_process("adam", 1, device="cuda")
    for k in expected:
        torch.testing.assert_close(state[k], expected[k], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- torch.compile


def _hot_path_model():
    # Every twin layer in training mode; Dropout without a generator (see below).
    gen = torch.Generator().manual_seed(SEED)
    kw = {"generator": gen, "dtype": torch.float64}
    return TL.Sequential(TL.Linear(8, 16, **kw), TL.BatchNorm1d(16, dtype=torch.float64), TL.ReLU(),
                         TL.Dropout(0.0), TL.Linear(16, 1, **kw))


@pytest.mark.slow
def test_twin_hot_path_traces_without_graph_breaks():
    """Dynamo traces the twins' forward (autograd Functions included) as one graph.
    Known break, not in this model: ``Dropout(generator=...)``, because dynamo
    cannot put a ``torch.Generator`` argument of ``torch.rand`` into a graph."""
    x = torch.randn(32, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    dropout = TL.Sequential(TL.Linear(8, 16, dtype=torch.float64), TL.ReLU(), TL.Dropout(0.5))
    images = TL.Sequential(TL.BatchNorm2d(3, dtype=torch.float64), TL.ReLU())
    for model, inp in ((_hot_path_model(), x), (dropout, x), (images, torch.randn(4, 3, 5, 5, dtype=torch.float64))):
        torch._dynamo.reset()
        explained = torch._dynamo.explain(model)(inp)
        assert (explained.graph_count, explained.graph_break_count) == (1, 0), (model, explained.break_reasons)


@pytest.mark.slow
def test_compiled_twin_model_matches_eager():
    reason = compile_unavailable(torch.device("cpu"))
    if reason:
        pytest.skip(reason)
    torch._dynamo.reset()
    eager, model = _hot_path_model(), _hot_path_model()
    x = torch.randn(32, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    compiled = torch.compile(model, fullgraph=False)
    results = []
    for net in (compiled, eager):
        xi = x.clone().requires_grad_(True)
        out = net(xi)
        out.square().mean().backward()
        results.append([out, xi.grad, *(p.grad for p in net.parameters()), *net.buffers()])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
