/* gric GStreamer plugin: raw video <-> packed RGB8 conversion.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gstgricconvert.h"

void
gst_gric_convert_clear (GstGricConvert * conv)
{
  if (conv->have_scratch)
    gst_video_frame_unmap (&conv->scratch);     /* drops the last buffer ref */
  g_clear_pointer (&conv->converter, gst_video_converter_free);
  conv->have_scratch = FALSE;
  conv->format = GST_VIDEO_FORMAT_UNKNOWN;
}

gboolean
gst_gric_convert_configure (GstGricConvert * conv,
    const GstVideoInfo * raw_info, gboolean to_rgb)
{
  const GstVideoFormatInfo *finfo = raw_info->finfo;
  GstVideoInfo rgb_info;
  GstBuffer *buf;

  gst_gric_convert_clear (conv);
  if (GST_VIDEO_INFO_FORMAT (raw_info) == GST_VIDEO_FORMAT_RGB) {
    conv->format = GST_VIDEO_FORMAT_RGB;
    return TRUE;
  }
  /* The hand-written swizzle only knows packed 8-bit RGB. */
  if (GST_VIDEO_FORMAT_INFO_IS_RGB (finfo) &&
      (GST_VIDEO_FORMAT_INFO_N_PLANES (finfo) != 1 ||
          GST_VIDEO_FORMAT_INFO_DEPTH (finfo, 0) != 8))
    return FALSE;

  if (!gst_video_info_set_format (&rgb_info, GST_VIDEO_FORMAT_RGB,
          GST_VIDEO_INFO_WIDTH (raw_info), GST_VIDEO_INFO_HEIGHT (raw_info)))
    return FALSE;
  /* GstVideoConverter only converts between matching frame rates and
   * interlacing. */
  GST_VIDEO_INFO_FPS_N (&rgb_info) = GST_VIDEO_INFO_FPS_N (raw_info);
  GST_VIDEO_INFO_FPS_D (&rgb_info) = GST_VIDEO_INFO_FPS_D (raw_info);
  GST_VIDEO_INFO_INTERLACE_MODE (&rgb_info) =
      GST_VIDEO_INFO_INTERLACE_MODE (raw_info);
  buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&rgb_info), NULL);
  if (buf == NULL)
    return FALSE;
  conv->have_scratch = gst_video_frame_map (&conv->scratch, &rgb_info, buf,
      GST_MAP_READWRITE);
  gst_buffer_unref (buf);
  if (!conv->have_scratch)
    return FALSE;

  if (!GST_VIDEO_FORMAT_INFO_IS_RGB (finfo)) {
    conv->converter = to_rgb ?
        gst_video_converter_new ((GstVideoInfo *) raw_info, &rgb_info, NULL) :
        gst_video_converter_new (&rgb_info, (GstVideoInfo *) raw_info, NULL);
    if (conv->converter == NULL) {
      gst_gric_convert_clear (conv);
      return FALSE;
    }
  }
  conv->format = GST_VIDEO_INFO_FORMAT (raw_info);
  return TRUE;
}

/* Copy between a packed 8-bit RGB-family frame (3 or 4 bytes a pixel, any
 * component order) and packed RGB; alpha and padding are written opaque. */
static void
swizzle (GstVideoFrame * raw, GstVideoFrame * rgb, gboolean to_rgb)
{
  const GstVideoFormatInfo *finfo = raw->info.finfo;
  const gint width = GST_VIDEO_FRAME_WIDTH (raw);
  const gint height = GST_VIDEO_FRAME_HEIGHT (raw);
  const gint pstride = GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, 0);
  const gint r = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_R);
  const gint g = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_G);
  const gint b = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_B);
  /* In 4-byte formats the byte that is not R, G or B is alpha or padding. */
  const gint a = 6 - r - g - b;
  gint x, y;

  for (y = 0; y < height; y++) {
    guint8 *p = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (raw, 0) +
        y * GST_VIDEO_FRAME_PLANE_STRIDE (raw, 0);
    guint8 *q = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (rgb, 0) +
        y * GST_VIDEO_FRAME_PLANE_STRIDE (rgb, 0);

    for (x = 0; x < width; x++, p += pstride, q += 3) {
      if (to_rgb) {
        q[0] = p[r];
        q[1] = p[g];
        q[2] = p[b];
      } else {
        p[r] = q[0];
        p[g] = q[1];
        p[b] = q[2];
        if (pstride == 4)
          p[a] = 0xff;
      }
    }
  }
}

void
gst_gric_convert_to_rgb (GstGricConvert * conv, GstVideoFrame * raw,
    const guint8 ** rgb, gsize * stride)
{
  if (!conv->have_scratch) {
    *rgb = GST_VIDEO_FRAME_PLANE_DATA (raw, 0);
    *stride = GST_VIDEO_FRAME_PLANE_STRIDE (raw, 0);
    return;
  }
  if (conv->converter)
    gst_video_converter_frame (conv->converter, raw, &conv->scratch);
  else
    swizzle (raw, &conv->scratch, TRUE);
  *rgb = GST_VIDEO_FRAME_PLANE_DATA (&conv->scratch, 0);
  *stride = GST_VIDEO_FRAME_PLANE_STRIDE (&conv->scratch, 0);
}

void
gst_gric_convert_rgb_target (GstGricConvert * conv, GstVideoFrame * raw,
    guint8 ** rgb, gsize * stride)
{
  GstVideoFrame *target = conv->have_scratch ? &conv->scratch : raw;

  *rgb = GST_VIDEO_FRAME_PLANE_DATA (target, 0);
  *stride = GST_VIDEO_FRAME_PLANE_STRIDE (target, 0);
}

void
gst_gric_convert_from_rgb (GstGricConvert * conv, GstVideoFrame * raw)
{
  if (conv->converter)
    gst_video_converter_frame (conv->converter, &conv->scratch, raw);
  else if (conv->have_scratch)
    swizzle (raw, &conv->scratch, FALSE);
}
