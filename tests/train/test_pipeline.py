"""Tests of the PyTorch reference model and its export (tools/train/).

The shipped weights are checked against C by test_parity; these tests check
the training side itself, and that export.py's output is what C computes
for any weights, not only the shipped ones: a small model of odd sizes
with random weights is exported, and the C parity test run on it.

  GRIC_TEST_PARITY=build/tests/test_parity /usr/bin/python3 tests/train/test_pipeline.py
"""
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
import export  # noqa: E402
import model as ref  # noqa: E402
import train  # noqa: E402
import weightfile  # noqa: E402


class Transforms(unittest.TestCase):
    def test_subpixel_deconv_is_a_transposed_conv(self):
        torch.manual_seed(1)
        layer = ref.deconv(5, 7)
        x = torch.randn(2, 5, 6, 9)
        want = F.conv_transpose2d(x, layer.weight, layer.bias, stride=2, padding=2,
                                  output_padding=1)
        got = layer(x)
        self.assertEqual(got.shape, (2, 7, 12, 18))
        self.assertLess((got - want).abs().max().item(), 1e-5)

    def test_masked_convs_are_causal(self):
        torch.manual_seed(2)
        for kind, k in (("A", 5), ("B", 3)):
            conv = ref.MaskedConv2d(3, 4, k, kind)
            x = torch.randn(1, 3, 7, 7, requires_grad=True)
            conv(x)[0, :, 3, 3].sum().backward()
            used = x.grad.abs().sum(1)[0] > 0
            t = torch.arange(49).view(7, 7)
            # raster order: only earlier positions (type B: and the centre)
            allowed = (t < 24) | ((t == 24) & (kind == "B"))
            self.assertTrue(torch.all(~used | allowed), kind)
            self.assertTrue(used[3, 2] and used[2, 3], kind)
            self.assertEqual(bool(used[3, 3]), kind == "B")


class ReferenceSearch(unittest.TestCase):
    def brute_force(self, y_hat):
        """MODEL.md §3 position by position."""
        m, h, w = y_hat.shape[1:]
        nb = ref.causal_neighbourhood(y_hat)[0].reshape(4 * m, h * w).double()
        index, sim = [], []
        for t in range(h * w):
            best, best_s = -1.0, -1
            for s in range(t):
                if t // w - s // w > ref.SEARCH_ROWS:
                    continue
                d = float(nb[:, t] @ nb[:, s])
                if d <= 0:
                    continue
                score = d * abs(d) / (float(nb[:, t] @ nb[:, t]) * float(nb[:, s] @ nb[:, s]))
                if score > best:     # strict: ties keep the smallest s
                    best, best_s = score, s
            index.append(best_s)
            k = 0
            while best_s >= 0 and (k + 1) ** 2 <= best * ref.SIM_STEPS ** 2:
                k += 1
            sim.append(k / ref.SIM_STEPS)
        return index, sim

    def test_matches_brute_force(self):
        g = torch.Generator().manual_seed(3)
        # few distinct values: many exact ties and zero neighbourhoods
        y_hat = torch.randint(-1, 2, (1, 3, 5, 6), generator=g).float()
        y_hat[:, :, 1, :] = 0
        index, sim = ref.reference_search(y_hat)
        want_index, want_sim = self.brute_force(y_hat)
        self.assertEqual(index[0].tolist(), want_index)
        self.assertEqual(sim[0].tolist(), want_sim)
        self.assertEqual(index[0, 0].item(), -1)
        self.assertGreater(sum(i >= 0 for i in want_index), 10)


class RatePoints(unittest.TestCase):
    def test_migration_keeps_trained_points(self):
        net = ref.GlobalReferenceModel(8, 8, 8, lambdas=(0.001, 0.01, 0.1))
        with torch.no_grad():
            net.log_gain.copy_(torch.randn_like(net.log_gain))
            net.log_scale_s.copy_(torch.randn_like(net.log_scale_s))
        state = net.state_dict()
        old_gain, old_scale = state["log_gain"].clone(), state["log_scale_s"].clone()
        new = (0.001, 0.004, 0.01, 0.1)
        self.assertTrue(ref.GlobalReferenceModel.migrate_rate_points(state, new))
        self.assertTrue(torch.equal(state["log_gain"][[0, 2, 3]], old_gain))
        # the transforms' rate scales of 0.004 are those of 0.01, unmoved
        self.assertTrue(torch.equal(state["log_scale_s"], old_scale[[0, 1, 1, 2]]))
        # 0.004 starts from its nearest point, 0.01, moved by 0.5 log(0.004 / 0.01)
        shift = 0.5 * np.log(0.004 / 0.01)
        self.assertTrue(torch.allclose(state["log_gain"][1], old_gain[1] + shift))
        self.assertFalse(ref.GlobalReferenceModel.migrate_rate_points(state, new))

    def test_gains_span_the_rate_points(self):
        net = ref.GlobalReferenceModel(8, 8, 8)
        K = net.lambdas.numel()
        for q, k in ((0, 0), (100, K - 1)):
            gain, inv_gain = net.gains(q)
            self.assertTrue(torch.allclose(gain, net.log_gain[k].exp()))
            self.assertTrue(torch.allclose(inv_gain, net.log_inv_gain[k].exp()))

    def test_rate_scales_start_as_no_scales(self):
        """A new model's transforms' rate scales are 1 (it computes what the
        model before them did, so training can continue from one), and
        other scales change g_a."""
        torch.manual_seed(3)
        net = ref.GlobalReferenceModel(8, 8, 8)
        x = torch.rand(1, 3, 64, 64)
        ones = torch.ones(1, len(ref.SCALED_LAYERS), 8)
        self.assertTrue(torch.equal(net.scaled(net.g_a, ones, x), net.g_a(x)))
        self.assertTrue(torch.equal(net.at_quality(net.log_scale_a, 37), ones[0]))
        with torch.no_grad():
            net.log_scale_a[:, 1].fill_(0.5)
        self.assertFalse(torch.allclose(net.scaled(net.g_a, net.at_quality(net.log_scale_a, 37)[None], x),
                                        net.g_a(x)))


class RateWeights(unittest.TestCase):
    def test_weights_equalise_losses_that_grow_as_sqrt_lambda(self):
        lambdas = torch.tensor(ref.LAMBDAS, dtype=torch.float64)
        self.assertTrue(torch.equal(train.rate_weights(lambdas, 0.0), torch.ones_like(lambdas)))
        weights = train.rate_weights(lambdas, 0.5)
        self.assertAlmostEqual(weights.log().sum().item(), 0.0, places=9)  # geometric mean 1
        weighted = weights * 3.0 * lambdas.sqrt()
        self.assertTrue(torch.allclose(weighted, weighted[0].expand_as(weighted)))


def exchange_worker(rank, port, out):
    """One of two processes: its gradient is rank + 1, its stat 10 (rank + 1)."""
    torch.distributed.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port,
                                         rank=rank, world_size=2)
    p = torch.nn.Parameter(torch.zeros(3, 2))
    p.grad = torch.full((3, 2), rank + 1.0)
    stats = train.exchange([p], torch.tensor([10.0 * (rank + 1)]), 2)
    drift = []
    for value in (float(rank), 1.0):   # different, then equal parameters
        with torch.no_grad():
            p.fill_(value)
        try:
            train.check_in_step([p])
            drift.append(False)
        except RuntimeError:
            drift.append(True)
    torch.save(dict(grad=p.grad, stats=stats, drift=drift), "%s.%d" % (out, rank))


class DataParallel(unittest.TestCase):
    def test_processes_average_gradients_and_catch_drift(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "rank")
            mp.start_processes(exchange_worker, (train.free_port(), out), nprocs=2,
                               start_method="fork")
            for rank in (0, 1):
                got = torch.load("%s.%d" % (out, rank))
                self.assertTrue(torch.equal(got["grad"], torch.full((3, 2), 1.5)))
                self.assertEqual(got["stats"].tolist(), [30.0])
                self.assertEqual(got["drift"], [True, False])

    def test_two_processes_train_and_resume(self):
        with tempfile.TemporaryDirectory() as tmp:
            rng = np.random.default_rng(5)
            os.makedirs(os.path.join(tmp, "img"))
            for i in range(3):
                a = np.cumsum(rng.normal(0, 8, (80, 80, 3)), axis=1) % 256
                Image.fromarray(a.astype(np.uint8)).save(os.path.join(tmp, "img", "%d.png" % i))
            state = os.path.join(tmp, "state.pt")
            cmd = [sys.executable, os.path.join(ROOT, "tools", "train", "train.py"),
                   "--data", os.path.join(tmp, "img"), "--state", state, "--N", "8", "--M", "8",
                   "--H", "8", "--patch", "64", "--batch", "1", "--threads", "1",
                   "--precision", "float32", "--save-every", "0", "--log-every", "1"]
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
            # two processes from scratch, then one resuming their checkpoint
            for workers, steps, resume in ((2, 3, []), (1, 5, ["--resume"])):
                run = subprocess.run(cmd + resume + ["--workers", str(workers),
                                                     "--steps", str(steps)],
                                     env=env, capture_output=True, text=True, timeout=120)
                self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
                self.assertEqual("2 data-parallel processes: 2 crops per step" in run.stdout,
                                 workers == 2, run.stdout)
                st = torch.load(state)
                self.assertEqual(st["step"], steps)
                self.assertEqual([h[0] for h in st["history"]], list(range(1, steps + 1)))
                self.assertTrue(all(np.isfinite(h[1]) for h in st["history"]))


class ExportToC(unittest.TestCase):
    """export.py's weight file and parity vectors for a random model of odd
    sizes (no size a multiple of the C kernels' blocks), checked by C."""

    def test_c_reproduces_a_random_model(self):
        parity_bin = os.environ.get("GRIC_TEST_PARITY")
        if not parity_bin:
            self.skipTest("GRIC_TEST_PARITY (the C test_parity binary) not set")
        torch.manual_seed(4)
        net = ref.GlobalReferenceModel(N=12, M=20, H=28)
        with torch.no_grad():
            # untrained latents are tiny: spread them over several integers
            net.log_gain.add_(2.5)
            net.log_inv_gain.sub_(2.5)
            net.h_a[-1].weight.mul_(8)
            # C must apply the transforms' rate scales, interpolated as the gains
            net.log_scale_a.normal_(0, 0.3)
            net.log_scale_s.normal_(0, 0.3)
        with tempfile.TemporaryDirectory() as tmp:
            path, parity = os.path.join(tmp, "model.bin"), os.path.join(tmp, "parity.bin")
            model_id = weightfile.export(net, path, train_steps=7)
            reloaded, meta = weightfile.load_model(path)
            self.assertEqual((meta["N"], meta["M"], meta["H"], meta["train_steps"]), (12, 20, 28, 7))
            image = export.parity_image(os.path.join(ROOT, "data", "sample.png"))
            export.write_parity(reloaded.eval(), parity, image, export.PARITY_QUALITY, model_id)
            _, vectors, _ = weightfile.read(parity)
            y_hat = vectors["y_hat"]
            self.assertGreater((y_hat != 0).mean(), 0.2, "latents too small to test anything")
            self.assertGreater((vectors["ref_index"] >= 0).mean(), 0.5)
            run = subprocess.run([parity_bin], env=dict(os.environ, GRIC_MODEL=path,
                                                        GRIC_PARITY=parity),
                                 capture_output=True, text=True)
            sys.stdout.write(run.stdout)
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)


if __name__ == "__main__":
    unittest.main()
