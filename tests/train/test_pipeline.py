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
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
import export  # noqa: E402
import model as ref  # noqa: E402
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
        state = net.state_dict()
        old_gain = state["log_gain"].clone()
        new = (0.001, 0.004, 0.01, 0.1)
        self.assertTrue(ref.GlobalReferenceModel.migrate_rate_points(state, new))
        self.assertTrue(torch.equal(state["log_gain"][[0, 2, 3]], old_gain))
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
