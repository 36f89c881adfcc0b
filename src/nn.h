/* Neural-network layers: the BLAS-backed transforms g_a / g_s and the
 * bit-exact kernels of the coding path (docs/MODEL.md §1, §4).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_NN_H
#define GRIC_NN_H

#include <stddef.h>
#include <stdint.h>

/* Conv weights in PyTorch layout: conv (cout, cin, k, k); transposed (cin, cout, k, k).
   padding k/2; transposed convs use output_padding stride-1 (output = stride * input). */
typedef struct { int cin, cout, k, stride, transposed; const float *w; const float *b; } GricConv;
typedef struct { int ch; const float *beta, *gamma, *mbeta, *mgamma; } GricGsdn; /* gamma/mgamma (ch, ch) row = output channel */
/* g_a: conv[0] gsdn[0] conv[1] gsdn[1] conv[2] gsdn[2] conv[3];  g_s: same with transposed convs
   and inverse GSDN.  scale[l] (cout floats, or NULL for none) multiplies conv[l]'s output
   channels before gsdn[l]: the rate scales of the quality being coded (MODEL.md §1). */
typedef struct { GricConv conv[4]; GricGsdn gsdn[3]; const float *scale[3]; } GricTransform;

/* Analysis transform, BLAS-backed (not part of the bit-exact coding path).
   Reads packed RGB8 (stride bytes/row) of width x height, replicating the last column/row out to
   padded_w x padded_h (multiples of 16), scaling bytes by 1/255, and writes y as CHW float
   (M, padded_h/16, padded_w/16).  Every layer is computed one output row at a time from a
   ring of the few input rows it needs, so memory stays bounded (linear in width, about
   10 MB per thread at 1920 px) and nothing is computed twice except where two threads'
   bands of latent rows meet.  Each of the `threads` threads runs one band; OpenBLAS itself
   is set to one thread (process-wide), as gric does its own threading.
   Returns 0, or -1 if memory ran out. */
int gric_analysis(const GricTransform *t, const uint8_t *rgb, size_t stride, int width, int height,
                  int padded_w, int padded_h, float *y, int threads);
/* Synthesis: y_scaled CHW (M, h, w) -> RGB8 out, cropped to width x height (<= 16w x 16h),
   each byte = clamp(round(255 * x), 0, 255).  Same row pipeline and threads; rows below
   height are not computed.  Returns 0 or -1. */
int gric_synthesis(const GricTransform *t, const float *y_scaled, int h, int w,
                   uint8_t *rgb, size_t stride, int width, int height, int threads);

/* Bit-exact kernels for the coding path (docs/MODEL.md §4): HWC layout (position-major,
   channels contiguous), float32, fixed summation order: acc = bias; taps in raster order
   (skipping masked and out-of-range taps); input channels ascending; acc = acc + w * x.
   The inner loop runs over output channels, so each output's order of operations is the
   same at any optimisation level and SIMD width. */
typedef struct { int cin, cout, k, stride, transposed; float *wt; /* [k*k][cin][cout] */
                 const float *b; uint8_t taps[25]; /* 1 = tap used */ } GricExactConv;
/* k odd and <= 5.  b may be NULL (zero bias).  Returns 0, or -1 on bad arguments or
   out of memory (c is then safe to free). */
int  gric_exact_conv_init(GricExactConv *c, const float *w_pytorch, const float *b, int cin, int cout,
                          int k, int stride, int transposed, const uint8_t *tap_mask /* k*k or NULL */);
/* Safe on a zeroed or failed-init struct. */
void gric_exact_conv_free(GricExactConv *c);
/* output size of an exact conv for input h x w */
void gric_exact_conv_out_size(const GricExactConv *c, int h, int w, int *oh, int *ow);
/* Whole plane: in HWC (h, w, cin) -> out HWC (oh, ow, cout). */
void gric_exact_conv(const GricExactConv *c, const float *in, int h, int w, float *out);
/* One output position (oy, ox): adds taps whose row ky is in [ky0, ky1) to acc (cout floats, which
   the caller pre-loads with the bias or with a partial sum from earlier rows).  Calling it with
   [0, a) then [a, k) gives bit-identical results to one call with [0, k) (the autoregressive
   decoder relies on this). */
void gric_exact_conv_at(const GricExactConv *c, const float *in, int h, int w, int oy, int ox,
                        int ky0, int ky1, float *acc);
/* The same for output channels [co0, co1) only: threads splitting the channels of one
   position compute exactly what one thread would. */
void gric_exact_conv_part(const GricExactConv *c, const float *in, int h, int w, int oy, int ox,
                          int ky0, int ky1, int co0, int co1, float *acc);
/* gric_exact_conv_at for n output positions at once, bit-identical to n separate calls:
   position i is (oy[i], ox[i]) and accumulates taps of rows [ky0, ky1) into acc + i * acc_stride;
   input position p of the h x w plane starts at in + p * in_stride (in_stride >= cin, so a 1x1
   layer can read a slice of wider rows).  Each weight is read once per few positions instead of
   once per position, which makes the encoder about twice as fast. */
void gric_exact_conv_sites(const GricExactConv *c, const float *in, size_t in_stride, int h, int w,
                           const int *oy, const int *ox, int n, int ky0, int ky1, float *acc,
                           size_t acc_stride);
void gric_leaky_relu(float *x, size_t n); /* x < 0 ? 0.2f * x : x */

#endif
