/* gric GStreamer plugin: decoder element.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-gricdec
 *
 * Decodes gric frames, either one frame per buffer (from gricenc or a
 * demuxer) or a byte stream of concatenated frames (from a .gric file).
 *
 * |[
 * gst-launch-1.0 filesrc location=t.gric ! gricdec ! videoconvert ! pngenc ! multifilesink location=f%02d.png
 * ]|
 */
#include <string.h>

#include "gstgric.h"
#include "gstgricdec.h"

GST_DEBUG_CATEGORY_STATIC (gst_gric_dec_debug);
#define GST_CAT_DEFAULT gst_gric_dec_debug

#define DEFAULT_THREADS 0
#define DEFAULT_MAX_PIXELS 0
/* "GRIC" read as a big-endian 32-bit word. */
#define GRIC_MAGIC 0x47524943u
#define GRIC_MAGIC_SIZE 4

enum
{
  PROP_0,
  PROP_THREADS,
  PROP_MODEL,
  PROP_MAX_PIXELS,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("image/x-gric"));

/* RGB first: it is what the codec produces, so it needs no conversion. */
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, "
        "format = (string) { RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, "
        "ARGB, ABGR, I420, NV12, YUY2 }, "
        "width = (int) [ 1, 16384 ], height = (int) [ 1, 16384 ], "
        "framerate = (fraction) [ 0/1, MAX ]"));

#define gst_gric_dec_parent_class parent_class
G_DEFINE_TYPE (GstGricDec, gst_gric_dec, GST_TYPE_VIDEO_DECODER);
GST_ELEMENT_REGISTER_DEFINE (gricdec, "gricdec", GST_RANK_PRIMARY,
    GST_TYPE_GRIC_DEC);

static void
gst_gric_dec_init (GstGricDec * self)
{
  self->threads = DEFAULT_THREADS;
  self->max_pixels = DEFAULT_MAX_PIXELS;
  gst_video_decoder_set_use_default_pad_acceptcaps (GST_VIDEO_DECODER (self),
      TRUE);
  GST_PAD_SET_ACCEPT_TEMPLATE (GST_VIDEO_DECODER_SINK_PAD (self));
}

static void
gst_gric_dec_finalize (GObject * object)
{
  GstGricDec *self = GST_GRIC_DEC (object);

  g_free (self->model_path);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_gric_dec_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstGricDec *self = GST_GRIC_DEC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_THREADS:
      self->threads = g_value_get_int (value);
      break;
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_MAX_PIXELS:
      self->max_pixels = g_value_get_uint64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_gric_dec_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstGricDec *self = GST_GRIC_DEC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_THREADS:
      g_value_set_int (value, self->threads);
      break;
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_MAX_PIXELS:
      g_value_set_uint64 (value, self->max_pixels);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_gric_dec_start (GstVideoDecoder * vdec)
{
  GstGricDec *self = GST_GRIC_DEC (vdec);
  GricError err = { 0 };
  gchar *path;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->model_path);
  GST_OBJECT_UNLOCK (self);

  self->model = gst_gric_model_open (GST_ELEMENT (self), path);
  g_free (path);
  if (self->model == NULL)
    return FALSE;
  self->decoder = gric_decoder_new (self->model, &err);
  if (self->decoder == NULL) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT,
        ("Could not create a gric decoder."), ("%s", err.message));
    g_clear_pointer (&self->model, gric_model_close);
    return FALSE;
  }
  /* A byte stream until the caps say frames are already delimited. */
  gst_video_decoder_set_packetized (vdec, FALSE);
  return TRUE;
}

static gboolean
gst_gric_dec_stop (GstVideoDecoder * vdec)
{
  GstGricDec *self = GST_GRIC_DEC (vdec);

  gst_gric_convert_clear (&self->convert);
  g_clear_pointer (&self->input_state, gst_video_codec_state_unref);
  /* The decoder refers to the model: free it first. */
  g_clear_pointer (&self->decoder, gric_decoder_free);
  g_clear_pointer (&self->model, gric_model_close);
  return TRUE;
}

static gboolean
gst_gric_dec_set_format (GstVideoDecoder * vdec, GstVideoCodecState * state)
{
  GstGricDec *self = GST_GRIC_DEC (vdec);
  GstStructure *s = gst_caps_get_structure (state->caps, 0);
  gboolean parsed = FALSE;

  gst_structure_get_boolean (s, "parsed", &parsed);
  gst_video_decoder_set_packetized (vdec, parsed);
  g_clear_pointer (&self->input_state, gst_video_codec_state_unref);
  self->input_state = gst_video_codec_state_ref (state);
  return TRUE;
}

/* The sink caps do not depend on downstream: sizes come from each frame's
 * header, so the base class's proxying of downstream sizes would only
 * leave upstream capsfilters unfixed. */
static GstCaps *
gst_gric_dec_getcaps (GstVideoDecoder * vdec, GstCaps * filter)
{
  GstCaps *templ =
      gst_pad_get_pad_template_caps (GST_VIDEO_DECODER_SINK_PAD (vdec));
  GstCaps *caps;

  if (filter == NULL)
    return templ;
  caps = gst_caps_intersect_full (filter, templ, GST_CAPS_INTERSECT_FIRST);
  gst_caps_unref (templ);
  return caps;
}

/* Split a byte stream into frames: each starts with the magic and its
 * header tells its size.  Bytes that do not start a valid header are
 * skipped up to the next magic. */
static GstFlowReturn
gst_gric_dec_parse (GstVideoDecoder * vdec,
    G_GNUC_UNUSED GstVideoCodecFrame * frame,
    GstAdapter * adapter, gboolean at_eos)
{
  GstGricDec *self = GST_GRIC_DEC (vdec);

  for (;;) {
    gsize avail = gst_adapter_available (adapter);
    GricFrameInfo info = { 0 };
    GricError err = { 0 };
    GricStatus status;
    const guint8 *header;
    gssize offset;

    if (avail < GRIC_MAGIC_SIZE)
      break;
    offset = gst_adapter_masked_scan_uint32 (adapter, 0xffffffff, GRIC_MAGIC,
        0, avail);
    if (offset != 0) {
      /* Keep a partial magic at the end for the next buffer. */
      gsize skip = offset > 0 ? (gsize) offset : avail - GRIC_MAGIC_SIZE + 1;
      GST_WARNING_OBJECT (self, "skipping %" G_GSIZE_FORMAT " bytes of "
          "garbage", skip);
      gst_adapter_flush (adapter, skip);
      continue;
    }
    if (avail < GRIC_HEADER_SIZE)
      break;

    header = gst_adapter_map (adapter, GRIC_HEADER_SIZE);
    status = gric_frame_info (header, GRIC_HEADER_SIZE, &info, &err);
    gst_adapter_unmap (adapter);
    if ((status != GRIC_OK && status != GRIC_ERR_TRUNCATED) ||
        info.frame_size < GRIC_HEADER_SIZE) {
      GST_WARNING_OBJECT (self, "invalid frame header (%s), resyncing",
          err.message);
      gst_adapter_flush (adapter, 1);
      continue;
    }
    if (avail < info.frame_size)
      break;

    gst_video_decoder_add_to_frame (vdec, info.frame_size);
    return gst_video_decoder_have_frame (vdec);
  }

  /* A frame cut short by the end of the stream still goes to the decoder,
   * which reports it as truncated. */
  if (at_eos && gst_adapter_available (adapter) >= GRIC_MAGIC_SIZE) {
    gst_video_decoder_add_to_frame (vdec, gst_adapter_available (adapter));
    return gst_video_decoder_have_frame (vdec);
  }
  return GST_VIDEO_DECODER_FLOW_NEED_DATA;
}

/* Downstream's first choice among our formats, RGB if it lists it;
 * UNKNOWN if it takes none of them. */
static GstVideoFormat
gst_gric_dec_pick_format (GstGricDec * self)
{
  GstCaps *allowed =
      gst_pad_get_allowed_caps (GST_VIDEO_DECODER_SRC_PAD (self));
  GstVideoFormat format = GST_VIDEO_FORMAT_RGB;
  GstStructure *s;
  const gchar *name;

  if (allowed == NULL)          /* not linked yet */
    return format;
  if (gst_caps_is_empty (allowed)) {
    gst_caps_unref (allowed);
    return GST_VIDEO_FORMAT_UNKNOWN;
  }
  allowed = gst_caps_make_writable (gst_caps_truncate (allowed));
  s = gst_caps_get_structure (allowed, 0);
  gst_structure_fixate_field_string (s, "format", "RGB");
  name = gst_structure_get_string (s, "format");
  if (name != NULL)
    format = gst_video_format_from_string (name);
  gst_caps_unref (allowed);
  return format;
}

/* (Re)negotiate the output for width x height pictures. */
static gboolean
gst_gric_dec_negotiate_size (GstGricDec * self, guint width, guint height)
{
  GstVideoDecoder *vdec = GST_VIDEO_DECODER (self);
  GstVideoCodecState *output;
  GstVideoFormat format = gst_gric_dec_pick_format (self);
  GstVideoInfo defaults;
  gboolean ok;

  if (format == GST_VIDEO_FORMAT_UNKNOWN)
    return FALSE;
  GST_DEBUG_OBJECT (self, "output %ux%u %s", width, height,
      gst_video_format_to_string (format));
  output = gst_video_decoder_set_output_state (vdec, format, width, height,
      self->input_state);
  /* The coded caps have no colorimetry to pass on: pictures are sRGB, and
   * YUV output gets the usual matrix for its size. */
  gst_video_info_set_format (&defaults, format, width, height);
  output->info.colorimetry = defaults.colorimetry;
  output->info.chroma_site = defaults.chroma_site;
  ok = gst_gric_convert_configure (&self->convert, &output->info, FALSE);
  gst_video_codec_state_unref (output);
  return ok && gst_video_decoder_negotiate (vdec);
}

/* Drop a frame that cannot be decoded; the stream goes on until max-errors
 * is exceeded, with a warning for each dropped frame. */
static GstFlowReturn
gst_gric_dec_drop_undecodable (GstGricDec * self, GstVideoCodecFrame * frame,
    GricStatus status, const GricError * err)
{
  GstFlowReturn ret = GST_FLOW_OK;

  gst_video_decoder_drop_frame (GST_VIDEO_DECODER (self), frame);
  GST_VIDEO_DECODER_ERROR (self, 1, STREAM, DECODE,
      ("Could not decode a gric frame."), ("%s (%s)", err->message,
          gric_status_string (status)), ret);
  if (ret == GST_FLOW_OK)
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("Dropped a gric frame that could not be decoded."),
        ("%s (%s)", err->message, gric_status_string (status)));
  return ret;
}

static GstFlowReturn
gst_gric_dec_handle_frame (GstVideoDecoder * vdec, GstVideoCodecFrame * frame)
{
  GstGricDec *self = GST_GRIC_DEC (vdec);
  GstVideoCodecState *output;
  GstVideoFrame raw;
  GstMapInfo in;
  GricFrameInfo info = { 0 };
  GricError err = { 0 };
  GricStatus status;
  GstFlowReturn ret;
  guint8 *rgb;
  gsize stride;
  gboolean renegotiate;
  gint threads;
  guint64 max_pixels;

  if (!gst_buffer_map (frame->input_buffer, &in, GST_MAP_READ)) {
    gst_video_decoder_drop_frame (vdec, frame);
    GST_ELEMENT_ERROR (self, STREAM, DECODE, (NULL),
        ("Could not map the input buffer."));
    return GST_FLOW_ERROR;
  }
  status = gric_frame_info (in.data, in.size, &info, &err);
  if (status != GRIC_OK) {
    gst_buffer_unmap (frame->input_buffer, &in);
    return gst_gric_dec_drop_undecodable (self, frame, status, &err);
  }

  /* Refused before the output buffer is allocated: that buffer alone
   * would be 1 GiB for a 16384x16384 header. */
  GST_OBJECT_LOCK (self);
  threads = self->threads;
  max_pixels = self->max_pixels;
  GST_OBJECT_UNLOCK (self);
  if (max_pixels != 0 && (guint64) info.width * info.height > max_pixels) {
    gst_buffer_unmap (frame->input_buffer, &in);
    err.status = GRIC_ERR_TOO_LARGE;
    g_snprintf (err.message, sizeof err.message,
        "frame of %ux%u exceeds max-pixels (%" G_GUINT64_FORMAT ")",
        info.width, info.height, max_pixels);
    return gst_gric_dec_drop_undecodable (self, frame, err.status, &err);
  }

  /* Every frame carries its size, which may change mid-stream. */
  output = gst_video_decoder_get_output_state (vdec);
  renegotiate = output == NULL || gst_pad_check_reconfigure
      (GST_VIDEO_DECODER_SRC_PAD (vdec)) ||
      GST_VIDEO_INFO_WIDTH (&output->info) != (gint) info.width ||
      GST_VIDEO_INFO_HEIGHT (&output->info) != (gint) info.height;
  if (output != NULL)
    gst_video_codec_state_unref (output);
  if (renegotiate && !gst_gric_dec_negotiate_size (self, info.width,
          info.height)) {
    gst_buffer_unmap (frame->input_buffer, &in);
    gst_video_decoder_drop_frame (vdec, frame);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("Could not negotiate %ux%u raw video downstream.", info.width,
            info.height));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  ret = gst_video_decoder_allocate_output_frame (vdec, frame);
  if (ret != GST_FLOW_OK) {
    gst_buffer_unmap (frame->input_buffer, &in);
    gst_video_decoder_drop_frame (vdec, frame);
    return ret;
  }
  output = gst_video_decoder_get_output_state (vdec);
  if (!gst_video_frame_map (&raw, &output->info, frame->output_buffer,
          GST_MAP_WRITE)) {
    gst_video_codec_state_unref (output);
    gst_buffer_unmap (frame->input_buffer, &in);
    gst_video_decoder_drop_frame (vdec, frame);
    GST_ELEMENT_ERROR (self, STREAM, DECODE, (NULL),
        ("Could not map the output buffer."));
    return GST_FLOW_ERROR;
  }
  gst_video_codec_state_unref (output);

  gric_decoder_set_threads (self->decoder, threads);

  gst_gric_convert_rgb_target (&self->convert, &raw, &rgb, &stride);
  status = gric_decode (self->decoder, in.data, in.size, rgb, stride, &err);
  if (status == GRIC_OK)
    gst_gric_convert_from_rgb (&self->convert, &raw);
  gst_video_frame_unmap (&raw);
  gst_buffer_unmap (frame->input_buffer, &in);

  if (status != GRIC_OK)
    return gst_gric_dec_drop_undecodable (self, frame, status, &err);
  /* Intra-only: every frame is a sync point. */
  GST_VIDEO_CODEC_FRAME_SET_SYNC_POINT (frame);
  return gst_video_decoder_finish_frame (vdec, frame);
}

/* A byte stream from the start (filesrc, or our seek back to byte 0) plays
 * from time 0; telling the base class so spares it guessing. */
static gboolean
gst_gric_dec_sink_event (GstVideoDecoder * vdec, GstEvent * event)
{
  const GstSegment *in;

  if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
    gst_event_parse_segment (event, &in);
    if (in->format == GST_FORMAT_BYTES && in->start == 0) {
      GstSegment segment;
      GstEvent *time_event;

      gst_segment_init (&segment, GST_FORMAT_TIME);
      time_event = gst_event_new_segment (&segment);
      gst_event_set_seqnum (time_event, gst_event_get_seqnum (event));
      gst_event_unref (event);
      event = time_event;
    }
  }
  return GST_VIDEO_DECODER_CLASS (parent_class)->sink_event (vdec, event);
}

/* A file of frames has no index, so upstream (filesrc) refuses time seeks
 * and the base class only maps time to bytes after a second of output.
 * A seek back to the start needs neither: it is byte 0. */
static gboolean
gst_gric_dec_src_event (GstVideoDecoder * vdec, GstEvent * event)
{
  GstFormat format;
  GstSeekFlags flags;
  GstSeekType start_type, stop_type;
  gdouble rate;
  gint64 start, stop;
  GstEvent *byte_seek;

  if (GST_EVENT_TYPE (event) != GST_EVENT_SEEK)
    return GST_VIDEO_DECODER_CLASS (parent_class)->src_event (vdec, event);

  gst_event_parse_seek (event, &rate, &format, &flags, &start_type, &start,
      &stop_type, &stop);
  if (format != GST_FORMAT_TIME || rate != 1.0 ||
      start_type != GST_SEEK_TYPE_SET || start != 0 ||
      (stop_type != GST_SEEK_TYPE_NONE && stop != -1))
    return GST_VIDEO_DECODER_CLASS (parent_class)->src_event (vdec, event);

  gst_event_ref (event);
  if (GST_VIDEO_DECODER_CLASS (parent_class)->src_event (vdec, event)) {
    gst_event_unref (event);
    return TRUE;
  }
  byte_seek = gst_event_new_seek (1.0, GST_FORMAT_BYTES, flags,
      GST_SEEK_TYPE_SET, 0, GST_SEEK_TYPE_NONE, -1);
  gst_event_set_seqnum (byte_seek, gst_event_get_seqnum (event));
  gst_event_unref (event);
  GST_DEBUG_OBJECT (vdec, "seeking to the start in bytes");
  return gst_pad_push_event (GST_VIDEO_DECODER_SINK_PAD (vdec), byte_seek);
}

static gboolean
gst_gric_dec_decide_allocation (GstVideoDecoder * vdec, GstQuery * query)
{
  GstBufferPool *pool = NULL;
  GstStructure *config;

  if (!GST_VIDEO_DECODER_CLASS (parent_class)->decide_allocation (vdec,
          query))
    return FALSE;

  if (gst_query_get_n_allocation_pools (query) > 0)
    gst_query_parse_nth_allocation_pool (query, 0, &pool, NULL, NULL, NULL);
  if (pool == NULL)
    return FALSE;

  /* Frames are mapped through their GstVideoMeta, so downstream may pick
   * strides and plane offsets when it supports the meta. */
  config = gst_buffer_pool_get_config (pool);
  if (gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL))
    gst_buffer_pool_config_add_option (config,
        GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_set_config (pool, config);
  gst_object_unref (pool);
  return TRUE;
}

static void
gst_gric_dec_class_init (GstGricDecClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstVideoDecoderClass *vdec_class = GST_VIDEO_DECODER_CLASS (klass);

  gobject_class->set_property = gst_gric_dec_set_property;
  gobject_class->get_property = gst_gric_dec_get_property;
  gobject_class->finalize = gst_gric_dec_finalize;

  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_int ("threads", "Threads",
          "Worker threads per frame (0 = one per CPU core, 1 = no extra "
          "threads)", 0, 1024, DEFAULT_THREADS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of the gric weight file (unset: $GRIC_MODEL, else the "
          "installed default model); must be the model the stream was "
          "encoded with", NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_MAX_PIXELS,
      g_param_spec_uint64 ("max-pixels", "Maximum pixels",
          "Drop (as undecodable) frames of more pixels than this, before "
          "allocating anything for them (0 = only the format's limit of "
          "16384x16384); set it when decoding untrusted streams", 0,
          G_MAXUINT64, DEFAULT_MAX_PIXELS, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "gric image decoder", "Codec/Decoder/Image/Video",
      "Decodes gric frames (learned intra-only image codec) into raw video",
      "gric developers");

  vdec_class->start = GST_DEBUG_FUNCPTR (gst_gric_dec_start);
  vdec_class->stop = GST_DEBUG_FUNCPTR (gst_gric_dec_stop);
  vdec_class->set_format = GST_DEBUG_FUNCPTR (gst_gric_dec_set_format);
  vdec_class->getcaps = GST_DEBUG_FUNCPTR (gst_gric_dec_getcaps);
  vdec_class->parse = GST_DEBUG_FUNCPTR (gst_gric_dec_parse);
  vdec_class->handle_frame = GST_DEBUG_FUNCPTR (gst_gric_dec_handle_frame);
  vdec_class->sink_event = GST_DEBUG_FUNCPTR (gst_gric_dec_sink_event);
  vdec_class->src_event = GST_DEBUG_FUNCPTR (gst_gric_dec_src_event);
  vdec_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_gric_dec_decide_allocation);

  GST_DEBUG_CATEGORY_INIT (gst_gric_dec_debug, "gricdec", 0,
      "gric image decoder");
}
