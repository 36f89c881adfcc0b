"""The gric weight-file container (docs/MODEL.md, "Weight file").

Little-endian.  64-byte header, a directory of int64 metadata and named
tensors, then 64-byte aligned tensor data.  The model id is FNV-1a 64 over
every byte after the header, so any damage changes it.
"""
import math
import os
import struct

import numpy as np
import torch

from model import GlobalReferenceModel

MAGIC = b"GRICMODL"
VERSION = 2                 # 2: the transforms' rate scales (g_a.scale, g_s.scale)
HEADER_SIZE = 64
ALIGN = 64
DTYPES = {np.dtype("<f4"): 0, np.dtype("<f2"): 1, np.dtype("<i4"): 2,
          np.dtype("u1"): 3, np.dtype("<i8"): 4}
DTYPE_OF_CODE = {v: k for k, v in DTYPES.items()}

CDF_PRECISION = 16          # every coded symbol's frequencies sum to 1 << 16
TABLE_Q = 40                # fixed-point bits of tab.exp and tab.phi
EXP_MIN, EXP_MAX, EXP_STEPS = -32, 8, 64     # tab.exp[i] = exp(EXP_MIN + i / EXP_STEPS)
PHI_RANGE, PHI_STEPS = 8, 512                # tab.phi[i] = Phi(-PHI_RANGE + i / PHI_STEPS)
Z_TAIL = 1e-6               # mass left outside each z channel's table (escape-coded)
Z_MAX_SYMBOLS = 1024


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in bytes(data):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def write(path, meta, tensors):
    """meta: {str: int}; tensors: {str: np.ndarray} (dtype from DTYPES)."""
    directory = bytearray()
    for key, value in meta.items():
        k = key.encode()
        directory += struct.pack("<H", len(k)) + k + struct.pack("<q", int(value))
    offset = 0
    blobs = []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype not in DTYPES:
            raise ValueError("%s: unsupported dtype %s" % (name, arr.dtype))
        n = name.encode()
        directory += struct.pack("<H", len(n)) + n
        directory += struct.pack("<BB", DTYPES[arr.dtype], arr.ndim)
        directory += struct.pack("<%dI" % arr.ndim, *arr.shape)
        directory += struct.pack("<Q", offset)
        blobs.append((offset, arr.tobytes()))
        offset += (len(blobs[-1][1]) + ALIGN - 1) // ALIGN * ALIGN
    data_offset = (HEADER_SIZE + len(directory) + ALIGN - 1) // ALIGN * ALIGN
    body = bytearray(data_offset - HEADER_SIZE + offset)
    body[: len(directory)] = directory
    for off, blob in blobs:
        start = data_offset - HEADER_SIZE + off
        body[start:start + len(blob)] = blob
    model_id = fnv1a64(bytes(body))
    header = MAGIC + struct.pack("<IIIIQQQQ", VERSION, HEADER_SIZE, len(meta), len(tensors),
                                 HEADER_SIZE, len(directory), data_offset, offset)
    header += struct.pack("<Q", model_id)
    assert len(header) == HEADER_SIZE
    # replace, never rewrite in place: running decoders have the old file mapped
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(body)
    os.replace(tmp, path)
    return model_id


def read(path):
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:8] != MAGIC:
        raise ValueError("not a gric weight file")
    (version, hsize, n_meta, n_tensors, dir_off, dir_size, data_off, data_size,
     model_id) = struct.unpack_from("<IIIIQQQQQ", buf, 8)
    # version 1 files (no rate scales) still load, so training can start from them
    if version not in (1, VERSION):
        raise ValueError("weight file version %d, expected %d" % (version, VERSION))
    if fnv1a64(buf[HEADER_SIZE:]) != model_id:
        raise ValueError("weight file is damaged (model id mismatch)")
    pos = dir_off
    meta, tensors = {}, {}
    for _ in range(n_meta):
        (klen,) = struct.unpack_from("<H", buf, pos)
        key = buf[pos + 2:pos + 2 + klen].decode()
        (meta[key],) = struct.unpack_from("<q", buf, pos + 2 + klen)
        pos += 2 + klen + 8
    for _ in range(n_tensors):
        (nlen,) = struct.unpack_from("<H", buf, pos)
        name = buf[pos + 2:pos + 2 + nlen].decode()
        pos += 2 + nlen
        code, ndim = struct.unpack_from("<BB", buf, pos)
        pos += 2
        shape = struct.unpack_from("<%dI" % ndim, buf, pos)
        pos += 4 * ndim
        (off,) = struct.unpack_from("<Q", buf, pos)
        pos += 8
        dt = DTYPE_OF_CODE[code]
        count = int(np.prod(shape)) if ndim else 1
        start = data_off + off
        tensors[name] = np.frombuffer(buf, dt, count, start).reshape(shape).copy()
    return meta, tensors, model_id


# -- model <-> tensors -----------------------------------------------------------

def _conv_names(prefix, seq):
    out = {}
    for i, layer in enumerate(seq):
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            out["%s.%d" % (prefix, i)] = layer
    return out


def integer_tables():
    x = EXP_MIN + np.arange((EXP_MAX - EXP_MIN) * EXP_STEPS + 1) / EXP_STEPS
    exp_tab = np.array([round(math.exp(v) * 2.0 ** TABLE_Q) for v in x], dtype="<i8")
    t = -PHI_RANGE + np.arange(2 * PHI_RANGE * PHI_STEPS + 1) / PHI_STEPS
    phi_tab = np.array([round(0.5 * math.erfc(-v / math.sqrt(2)) * 2.0 ** TABLE_Q) for v in t],
                       dtype="<i8")
    return exp_tab, phi_tab


def z_tables(model):
    """Quantised CDF of every z channel: symbols offset..offset+len-2, escape last."""
    dens = model.z_density
    ch = model.N
    grid = torch.arange(-Z_MAX_SYMBOLS, Z_MAX_SYMBOLS + 1, dtype=torch.float32)
    with torch.no_grad():
        upper = torch.sigmoid(dens.logits_cdf(grid.view(1, 1, -1).expand(ch, 1, -1) + 0.5))[:, 0]
    cdfs, lens, offs = [], [], []
    total = 1 << CDF_PRECISION
    for c in range(ch):
        cu = upper[c].double().numpy()
        # cu[i] = P(z < grid[i] + 0.5): the symbols below lo, and those
        # above hi, hold at most Z_TAIL of the mass each
        lo = int(np.argmax(cu > Z_TAIL))
        hi = max(int(np.argmax(1 - cu <= Z_TAIL)), lo)
        if hi - lo + 1 > Z_MAX_SYMBOLS - 1:
            mid = (lo + hi) // 2
            lo, hi = mid - (Z_MAX_SYMBOLS // 2 - 1), mid + (Z_MAX_SYMBOLS // 2 - 1)
        lower = np.concatenate([[0.0], cu[:-1]])
        pmf = np.clip(cu[lo:hi + 1] - lower[lo:hi + 1], 0, 1)
        n = hi - lo + 1
        freq = np.floor(pmf * (total - n - 1)).astype(np.int64) + 1
        cdf = np.concatenate([[0], np.cumsum(freq), [total]])
        assert cdf[-2] < total
        cdfs.append(cdf)
        lens.append(n + 1)
        offs.append(int(grid[lo]))
    width = max(len(c) for c in cdfs)
    table = np.full((ch, width), total, dtype="<i4")
    for c, cdf in enumerate(cdfs):
        table[c, :len(cdf)] = cdf
    return table, np.array(lens, dtype="<i4"), np.array(offs, dtype="<i4")


def export(model, path, train_steps=0):
    """Write the model; conv weights as fp16, everything else fp32/int."""
    f16 = lambda t: t.detach().float().numpy().astype("<f2")  # noqa: E731
    f32 = lambda t: t.detach().float().numpy().astype("<f4")  # noqa: E731
    tensors = {}
    for prefix in ("g_a", "g_s", "h_a", "h_s"):
        seq = getattr(model, prefix)
        for name, layer in _conv_names(prefix, seq).items():
            tensors[name + ".weight"] = f16(layer.weight)
            tensors[name + ".bias"] = f32(layer.bias)
        for i, layer in enumerate(seq):
            if hasattr(layer, "params"):
                for pname, value in zip(("beta", "gamma", "mbeta", "mgamma"), layer.params()):
                    tensors["%s.%d.%s" % (prefix, i, pname)] = f32(value)
    tensors["context.weight"] = f16(model.context.masked_weight())
    tensors["context.bias"] = f32(model.context.bias)
    tensors["reference.weight"] = f16(model.reference.masked_weight())
    tensors["reference.bias"] = f32(model.reference.bias)
    for stack in ("stack_local", "stack_ref", "stack_hyper"):
        for i in (0, 2, 4):
            layer = getattr(model, stack)[i]
            tensors["%s.%d.weight" % (stack, i)] = f16(layer.weight[:, :, 0, 0])
            tensors["%s.%d.bias" % (stack, i)] = f32(layer.bias)
    tensors["gain"] = f32(torch.exp(model.log_gain))
    tensors["inv_gain"] = f32(torch.exp(model.log_inv_gain))
    tensors["g_a.scale"] = f32(torch.exp(model.log_scale_a))
    tensors["g_s.scale"] = f32(torch.exp(model.log_scale_s))
    tensors["lambdas"] = f32(model.lambdas)
    dens = model.z_density
    for i in range(len(dens.matrices)):
        tensors["z_density.matrix.%d" % i] = f32(dens.matrices[i])
        tensors["z_density.bias.%d" % i] = f32(dens.biases[i])
        if i < len(dens.factors):
            tensors["z_density.factor.%d" % i] = f32(dens.factors[i])
    tensors["z.cdf"], tensors["z.cdf_len"], tensors["z.offset"] = z_tables(model)
    tensors["tab.exp"], tensors["tab.phi"] = integer_tables()
    meta = dict(N=model.N, M=model.M, H=model.H, K=model.lambdas.numel(),
                train_steps=train_steps, cdf_precision=CDF_PRECISION, table_q=TABLE_Q,
                exp_min=EXP_MIN, exp_max=EXP_MAX, exp_steps=EXP_STEPS,
                phi_range=PHI_RANGE, phi_steps=PHI_STEPS,
                recon_shift_256=int(round(model.recon_shift * 256)))
    return write(path, meta, tensors)


def load_model(path):
    """(model, metadata) of an exported file: a reference model of the file's
    sizes and rate points holding its (fp16-rounded) parameters."""
    meta, tensors, _ = read(path)
    model = GlobalReferenceModel(meta["N"], meta["M"], meta["H"],
                                 lambdas=tuple(tensors["lambdas"].tolist()))
    load_into(model, path)
    return model, meta


def load_into(model, path):
    """Load an exported file into `model` (fp16-rounded weights, as C sees them)."""
    meta, t, _ = read(path)
    for key in ("N", "M", "H"):
        if meta[key] != getattr(model, key):
            raise ValueError("%s: %s=%d, model has %d" % (path, key, meta[key], getattr(model, key)))
    model.recon_shift = meta.get("recon_shift_256", 0) / 256
    tt = lambda name: torch.from_numpy(t[name].astype(np.float32))  # noqa: E731
    with torch.no_grad():
        for prefix in ("g_a", "g_s", "h_a", "h_s"):
            seq = getattr(model, prefix)
            for name, layer in _conv_names(prefix, seq).items():
                layer.weight.copy_(tt(name + ".weight"))
                layer.bias.copy_(tt(name + ".bias"))
            for i, layer in enumerate(seq):
                if hasattr(layer, "params"):
                    layer.beta.set_value(tt("%s.%d.beta" % (prefix, i)))
                    layer.gamma.set_value(tt("%s.%d.gamma" % (prefix, i)))
                    layer.mgamma.set_value(tt("%s.%d.mgamma" % (prefix, i)))
                    layer.mbeta.copy_(tt("%s.%d.mbeta" % (prefix, i)))
        model.context.weight.copy_(tt("context.weight"))
        model.context.bias.copy_(tt("context.bias"))
        model.reference.weight.copy_(tt("reference.weight"))
        model.reference.bias.copy_(tt("reference.bias"))
        for stack in ("stack_local", "stack_ref", "stack_hyper"):
            for i in (0, 2, 4):
                layer = getattr(model, stack)[i]
                layer.weight.copy_(tt("%s.%d.weight" % (stack, i))[:, :, None, None])
                layer.bias.copy_(tt("%s.%d.bias" % (stack, i)))
        model.log_gain.copy_(torch.log(tt("gain")))
        model.log_inv_gain.copy_(torch.log(tt("inv_gain")))
        for name, param in (("g_a.scale", model.log_scale_a), ("g_s.scale", model.log_scale_s)):
            param.copy_(torch.log(tt(name)) if name in t else torch.zeros_like(param))
        dens = model.z_density
        for i in range(len(dens.matrices)):
            dens.matrices[i].copy_(tt("z_density.matrix.%d" % i))
            dens.biases[i].copy_(tt("z_density.bias.%d" % i))
            if i < len(dens.factors):
                dens.factors[i].copy_(tt("z_density.factor.%d" % i))
    return meta
