/* gric GStreamer plugin: encoder element.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-gricenc
 *
 * Encodes raw video into gric frames, one self-contained (intra) frame per
 * picture.
 *
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=30 ! video/x-raw,width=640,height=480 ! gricenc quality=60 ! filesink location=t.gric
 * ]|
 */
#include "gstgric.h"
#include "gstgricenc.h"

GST_DEBUG_CATEGORY_STATIC (gst_gric_enc_debug);
#define GST_CAT_DEFAULT gst_gric_enc_debug

#define DEFAULT_QUALITY 75
#define DEFAULT_THREADS 0
#define DEFAULT_RDO_SLOPE GRIC_RDO_SLOPE_DEFAULT
#define DEFAULT_REFINE GRIC_REFINE_DEFAULT

enum
{
  PROP_0,
  PROP_QUALITY,
  PROP_THREADS,
  PROP_RDO_SLOPE,
  PROP_REFINE,
  PROP_MODEL,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, "
        "format = (string) { RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, "
        "ARGB, ABGR, I420, NV12, YUY2 }, "
        "width = (int) [ 1, 16384 ], height = (int) [ 1, 16384 ], "
        "framerate = (fraction) [ 0/1, MAX ]"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("image/x-gric, "
        "width = (int) [ 1, 16384 ], height = (int) [ 1, 16384 ], "
        "framerate = (fraction) [ 0/1, MAX ], parsed = (boolean) true"));

#define gst_gric_enc_parent_class parent_class
G_DEFINE_TYPE (GstGricEnc, gst_gric_enc, GST_TYPE_VIDEO_ENCODER);
GST_ELEMENT_REGISTER_DEFINE (gricenc, "gricenc", GST_RANK_PRIMARY,
    GST_TYPE_GRIC_ENC);

static void
gst_gric_enc_init (GstGricEnc * self)
{
  self->quality = DEFAULT_QUALITY;
  self->threads = DEFAULT_THREADS;
  self->rdo_slope = DEFAULT_RDO_SLOPE;
  self->refine = DEFAULT_REFINE;
}

static void
gst_gric_enc_finalize (GObject * object)
{
  GstGricEnc *self = GST_GRIC_ENC (object);

  g_free (self->model_path);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_gric_enc_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstGricEnc *self = GST_GRIC_ENC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_QUALITY:
      self->quality = g_value_get_int (value);
      break;
    case PROP_THREADS:
      self->threads = g_value_get_int (value);
      break;
    case PROP_RDO_SLOPE:
      self->rdo_slope = g_value_get_uint (value);
      break;
    case PROP_REFINE:
      self->refine = g_value_get_uint (value);
      break;
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_gric_enc_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstGricEnc *self = GST_GRIC_ENC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_QUALITY:
      g_value_set_int (value, self->quality);
      break;
    case PROP_THREADS:
      g_value_set_int (value, self->threads);
      break;
    case PROP_RDO_SLOPE:
      g_value_set_uint (value, self->rdo_slope);
      break;
    case PROP_REFINE:
      g_value_set_uint (value, self->refine);
      break;
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_gric_enc_start (GstVideoEncoder * venc)
{
  GstGricEnc *self = GST_GRIC_ENC (venc);
  GricError err = { 0 };
  gchar *path;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->model_path);
  GST_OBJECT_UNLOCK (self);

  self->model = gst_gric_model_open (GST_ELEMENT (self), path);
  g_free (path);
  if (self->model == NULL)
    return FALSE;
  self->encoder = gric_encoder_new (self->model, &err);
  if (self->encoder == NULL) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT,
        ("Could not create a gric encoder."), ("%s", err.message));
    g_clear_pointer (&self->model, gric_model_close);
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_gric_enc_stop (GstVideoEncoder * venc)
{
  GstGricEnc *self = GST_GRIC_ENC (venc);

  gst_gric_convert_clear (&self->convert);
  g_clear_pointer (&self->input_state, gst_video_codec_state_unref);
  /* The encoder refers to the model: free it first. */
  g_clear_pointer (&self->encoder, gric_encoder_free);
  g_clear_pointer (&self->model, gric_model_close);
  return TRUE;
}

static gboolean
gst_gric_enc_set_format (GstVideoEncoder * venc, GstVideoCodecState * state)
{
  GstGricEnc *self = GST_GRIC_ENC (venc);
  GstVideoInfo *info = &state->info;
  GstVideoCodecState *output;
  GstCaps *caps;

  if (!gst_gric_convert_configure (&self->convert, info, TRUE)) {
    GST_ERROR_OBJECT (self, "cannot convert %s to RGB",
        gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (info)));
    return FALSE;
  }
  g_clear_pointer (&self->input_state, gst_video_codec_state_unref);
  self->input_state = gst_video_codec_state_ref (state);

  caps = gst_caps_new_simple ("image/x-gric",
      "width", G_TYPE_INT, GST_VIDEO_INFO_WIDTH (info),
      "height", G_TYPE_INT, GST_VIDEO_INFO_HEIGHT (info),
      "framerate", GST_TYPE_FRACTION, GST_VIDEO_INFO_FPS_N (info),
      GST_VIDEO_INFO_FPS_D (info), "parsed", G_TYPE_BOOLEAN, TRUE, NULL);
  output = gst_video_encoder_set_output_state (venc, caps, state);
  gst_video_codec_state_unref (output);
  return gst_video_encoder_negotiate (venc);
}

static gboolean
gst_gric_enc_propose_allocation (GstVideoEncoder * venc, GstQuery * query)
{
  /* Strided and offset planes are fine: frames are mapped with their meta. */
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  return GST_VIDEO_ENCODER_CLASS (parent_class)->propose_allocation (venc,
      query);
}

static GstFlowReturn
gst_gric_enc_handle_frame (GstVideoEncoder * venc, GstVideoCodecFrame * frame)
{
  GstGricEnc *self = GST_GRIC_ENC (venc);
  GstVideoInfo *info = &self->input_state->info;
  GstVideoFrame raw;
  GricError err = { 0 };
  GricStatus status;
  const guint8 *rgb;
  gsize stride;
  guint8 *out = NULL;
  size_t out_size = 0;
  gint quality, threads;
  guint rdo_slope, refine;

  if (!gst_video_frame_map (&raw, info, frame->input_buffer, GST_MAP_READ)) {
    gst_video_codec_frame_unref (frame);
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("Could not map the input frame."));
    return GST_FLOW_ERROR;
  }

  /* All may change while playing; they apply from the next frame on. */
  GST_OBJECT_LOCK (self);
  quality = self->quality;
  threads = self->threads;
  rdo_slope = self->rdo_slope;
  refine = self->refine;
  GST_OBJECT_UNLOCK (self);
  gric_encoder_set_threads (self->encoder, threads);
  gric_encoder_set_rdo_slope (self->encoder, rdo_slope);
  gric_encoder_set_refine (self->encoder, refine);

  gst_gric_convert_to_rgb (&self->convert, &raw, &rgb, &stride);
  status = gric_encode (self->encoder, rgb, GST_VIDEO_INFO_WIDTH (info),
      GST_VIDEO_INFO_HEIGHT (info), stride, quality, &out, &out_size, &err);
  gst_video_frame_unmap (&raw);

  if (status != GRIC_OK) {
    gst_video_codec_frame_unref (frame);
    GST_ELEMENT_ERROR (self, STREAM, ENCODE, ("Could not encode a frame."),
        ("%s (%s)", err.message, gric_status_string (status)));
    return GST_FLOW_ERROR;
  }
  GST_LOG_OBJECT (self, "frame %u: %" G_GSIZE_FORMAT " bytes at quality %d",
      frame->system_frame_number, (gsize) out_size, quality);

  /* Hand the library's allocation over without a copy. */
  frame->output_buffer = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY,
      out, out_size, 0, out_size, out, gric_free);
  /* Every gric frame decodes on its own. */
  GST_VIDEO_CODEC_FRAME_SET_SYNC_POINT (frame);
  return gst_video_encoder_finish_frame (venc, frame);
}

static void
gst_gric_enc_class_init (GstGricEncClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstVideoEncoderClass *venc_class = GST_VIDEO_ENCODER_CLASS (klass);

  gobject_class->set_property = gst_gric_enc_set_property;
  gobject_class->get_property = gst_gric_enc_get_property;
  gobject_class->finalize = gst_gric_enc_finalize;

  g_object_class_install_property (gobject_class, PROP_QUALITY,
      g_param_spec_int ("quality", "Quality",
          "Quality of encoding, from 0 (smallest) to 100 (best); can be "
          "changed while playing", 0, 100, DEFAULT_QUALITY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_int ("threads", "Threads",
          "Worker threads per frame (0 = one per CPU core, 1 = no extra "
          "threads)", 0, 1024, DEFAULT_THREADS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_RDO_SLOPE,
      g_param_spec_uint ("rdo-slope", "RDO slope",
          "Rate-distortion optimised quantisation of frames below the "
          "refinement's qualities or with refine-steps=0: price of squared "
          "latent error in nats (0 = plain rounding, about 15% faster to "
          "encode for about 2% more bits); any value decodes everywhere", 0,
          1000,
          DEFAULT_RDO_SLOPE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_REFINE,
      g_param_spec_uint ("refine-steps", "Refinement steps",
          "Latent refinement at quality "
          G_STRINGIFY (GRIC_REFINE_MIN_QUALITY) " and up: gradient steps that "
          "move the latents towards fewer bits and a better reconstruction "
          "(0 = off, for recording in real time; each step costs about "
          "three synthesis transforms); any value decodes everywhere", 0,
          GRIC_REFINE_MAX, DEFAULT_REFINE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of the gric weight file (unset: $GRIC_MODEL, else the "
          "installed default model); the decoder needs the same model",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "gric image encoder", "Codec/Encoder/Image/Video",
      "Encodes raw video into gric frames (learned intra-only image codec)",
      "gric developers");

  venc_class->start = GST_DEBUG_FUNCPTR (gst_gric_enc_start);
  venc_class->stop = GST_DEBUG_FUNCPTR (gst_gric_enc_stop);
  venc_class->set_format = GST_DEBUG_FUNCPTR (gst_gric_enc_set_format);
  venc_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_gric_enc_propose_allocation);
  venc_class->handle_frame = GST_DEBUG_FUNCPTR (gst_gric_enc_handle_frame);

  GST_DEBUG_CATEGORY_INIT (gst_gric_enc_debug, "gricenc", 0,
      "gric image encoder");
}
