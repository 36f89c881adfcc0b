/* gric GStreamer plugin: encoder element.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_GRIC_ENC_H
#define GST_GRIC_ENC_H

#include <gst/video/video.h>
#include <gric.h>

#include "gstgricconvert.h"

G_BEGIN_DECLS

#define GST_TYPE_GRIC_ENC (gst_gric_enc_get_type ())
G_DECLARE_FINAL_TYPE (GstGricEnc, gst_gric_enc, GST, GRIC_ENC, GstVideoEncoder)

struct _GstGricEnc {
  GstVideoEncoder parent;

  /* properties, under the object lock */
  gint quality;
  gint threads;
  guint rdo_slope;
  guint refine;
  gchar *model_path;

  /* codec context, alive from start to stop */
  GricModel *model;
  GricEncoder *encoder;
  GstVideoCodecState *input_state;
  GstGricConvert convert;
};

GST_ELEMENT_REGISTER_DECLARE (gricenc);

G_END_DECLS

#endif
