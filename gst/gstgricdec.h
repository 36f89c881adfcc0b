/* gric GStreamer plugin: decoder element.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_GRIC_DEC_H
#define GST_GRIC_DEC_H

#include <gst/video/video.h>
#include <gric.h>

#include "gstgricconvert.h"

G_BEGIN_DECLS

#define GST_TYPE_GRIC_DEC (gst_gric_dec_get_type ())
G_DECLARE_FINAL_TYPE (GstGricDec, gst_gric_dec, GST, GRIC_DEC, GstVideoDecoder)

struct _GstGricDec {
  GstVideoDecoder parent;

  /* properties, under the object lock */
  gint threads;
  gchar *model_path;
  guint64 max_pixels;

  /* codec context, alive from start to stop */
  GricModel *model;
  GricDecoder *decoder;
  GstVideoCodecState *input_state;
  GstGricConvert convert;
};

GST_ELEMENT_REGISTER_DECLARE (gricdec);

G_END_DECLS

#endif
