/* gric GStreamer plugin: raw video <-> packed RGB8 conversion.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_GRIC_CONVERT_H
#define GST_GRIC_CONVERT_H

#include <gst/video/video.h>

G_BEGIN_DECLS

/* The codec works on packed RGB8.  Frames already in RGB are used in place;
 * the other packed RGB formats are swizzled by hand through a scratch frame;
 * YUV formats go through a GstVideoConverter, which honours the colorimetry
 * of the caps (BT.601 limited range for SD video). */
typedef struct {
  GstVideoFormat format;        /* raw side; UNKNOWN until configured */
  GstVideoFrame scratch;        /* packed RGB, mapped while in use */
  gboolean have_scratch;
  GstVideoConverter *converter; /* YUV only */
} GstGricConvert;

/* Prepare conversions between raw_info frames and packed RGB, in the
 * direction to_rgb (encoder) or from RGB (decoder).  FALSE if the format is
 * not supported or memory runs out. */
gboolean gst_gric_convert_configure (GstGricConvert * conv,
    const GstVideoInfo * raw_info, gboolean to_rgb);
void gst_gric_convert_clear (GstGricConvert * conv);

/* Encoder side: packed RGB view of raw, valid until the next call. */
void gst_gric_convert_to_rgb (GstGricConvert * conv, GstVideoFrame * raw,
    const guint8 ** rgb, gsize * stride);

/* Decoder side: where to decode a picture meant for raw, and the step that
 * moves it there afterwards (nothing when it was decoded in place). */
void gst_gric_convert_rgb_target (GstGricConvert * conv, GstVideoFrame * raw,
    guint8 ** rgb, gsize * stride);
void gst_gric_convert_from_rgb (GstGricConvert * conv, GstVideoFrame * raw);

G_END_DECLS

#endif
