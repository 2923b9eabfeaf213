"""Session 9 experiment (benchmarks/EXPERIMENTS.md): can the two critics run as two 1-thread
streams, one per member, instead of one 2-thread `bmm` ensemble, and so skip the OpenMP fork/join
of every small op?

One critic step of a 2-member ensemble (256x256, batch 256, HalfCheetah's input of 23): forward,
the loss gradient, every weight gradient. Modes: `bmm2` (our update's form, 2 OpenMP threads),
`py_threads` (a Python thread per member, 1 thread each: every op re-takes the GIL), `script_fork`
(TorchScript `fork`, which runs the second member on torch's inter-op pool without the GIL),
`seq1` (both members one after the other on 1 thread). Usage: python critic_streams_session9.py MODE
"""

import sys
import threading
import time
import warnings

import torch

warnings.simplefilter("ignore")  # torch.jit.script's deprecation warning
MODE = sys.argv[1]
torch.set_num_threads(2 if MODE == "bmm2" else 1)
BATCH, IN, HIDDEN = 256, 23, 256
torch.manual_seed(0)


def member() -> list[torch.Tensor]:
    return [
        torch.randn(IN, HIDDEN) * 0.1,
        torch.randn(1, HIDDEN) * 0.1,
        torch.randn(HIDDEN, HIDDEN) * 0.06,
        torch.randn(1, HIDDEN) * 0.1,
        torch.randn(HIDDEN, 1) * 0.06,
        torch.randn(1, 1),
    ]


MEMBERS = [member(), member()]
ENSEMBLE = [torch.stack([m[i] for m in MEMBERS]) for i in range(6)]
X = torch.randn(BATCH, IN)
TARGET = torch.randn(BATCH)


def one(m: list[torch.Tensor], x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    w0, b0, w1, b1, w2, b2 = m[0], m[1], m[2], m[3], m[4], m[5]
    h0 = torch.addmm(b0, x, w0).relu_()
    h1 = torch.addmm(b1, h0, w1).relu_()
    q = torch.addmm(b2, h1, w2).squeeze(-1)
    g = (q - target).div_(x.shape[0]).unsqueeze(-1)
    grads = [h1.t() @ g, g.sum(0)]
    g = torch.ops.aten.threshold_backward(g @ w2.t(), h1, 0)
    grads += [h0.t() @ g, g.sum(0)]
    g = torch.ops.aten.threshold_backward(g @ w1.t(), h0, 0)
    grads += [x.t() @ g, g.sum(0)]
    return grads[-2]


def ensemble() -> torch.Tensor:
    w0, b0, w1, b1, w2, b2 = ENSEMBLE
    xe = X.unsqueeze(0).expand(2, BATCH, IN)
    h0 = torch.baddbmm(b0, xe, w0).relu_()
    h1 = torch.baddbmm(b1, h0, w1).relu_()
    q = torch.baddbmm(b2, h1, w2).squeeze(-1)
    g = (q - TARGET).div_(BATCH).unsqueeze(-1)
    grads = [torch.bmm(h1.transpose(1, 2), g), g.sum(1)]
    g = torch.ops.aten.threshold_backward(torch.bmm(g, w2.transpose(1, 2)), h1, 0)
    grads += [torch.bmm(h0.transpose(1, 2), g), g.sum(1)]
    g = torch.ops.aten.threshold_backward(torch.bmm(g, w1.transpose(1, 2)), h0, 0)
    grads += [torch.matmul(xe.transpose(1, 2), g), g.sum(1)]
    return grads[-2]


def make_step():
    if MODE == "script_fork":
        scripted = torch.jit.script(one)

        @torch.jit.script
        def both(
            m0: list[torch.Tensor], m1: list[torch.Tensor], x: torch.Tensor, target: torch.Tensor
        ) -> torch.Tensor:
            future = torch.jit.fork(scripted, m1, x, target)
            return scripted(m0, x, target) + torch.jit.wait(future)

        return lambda: both(MEMBERS[0], MEMBERS[1], X, TARGET)
    if MODE == "py_threads":
        go, done = threading.Semaphore(0), threading.Semaphore(0)

        def worker() -> None:
            torch.set_num_threads(1)
            while True:
                go.acquire()
                one(MEMBERS[1], X, TARGET)
                done.release()

        threading.Thread(target=worker, daemon=True).start()

        def step() -> None:
            go.release()
            one(MEMBERS[0], X, TARGET)
            done.acquire()

        return step
    if MODE == "seq1":
        return lambda: (one(MEMBERS[0], X, TARGET), one(MEMBERS[1], X, TARGET))
    return ensemble


step = make_step()
for _ in range(100):
    step()
chunks = []
for _ in range(9):
    start = time.perf_counter()
    for _ in range(200):
        step()
    chunks.append((time.perf_counter() - start) / 200 * 1e3)
chunks.sort()
print(f"{MODE} {chunks[4]:.3f}")
