/* Tests of the gricenc and gricdec elements and the gric typefinder.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Run with GST_PLUGIN_PATH_1_0 pointing at the plugin's build directory and
 * GRIC_MODEL at the weight file (tests/gst/meson.build sets both).
 */
#include <string.h>

#include <glib/gstdio.h>
#include <gst/base/gsttypefindhelper.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <gric.h>

#define FPS_N 25
#define FRAME_DURATION (GST_SECOND / FPS_N)

/* Smooth gradients with a different level in each channel, so swapped
 * channels, wrong strides or a lost row show as large errors. */
static GstBuffer *
make_rgb (gint width, gint height)
{
  GstVideoInfo info;
  GstBuffer *buf;
  GstMapInfo map;
  gint x, y;

  fail_unless (gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, width,
          height));
  buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
  for (y = 0; y < height; y++) {
    guint8 *p = map.data + y * GST_VIDEO_INFO_PLANE_STRIDE (&info, 0);

    for (x = 0; x < width; x++, p += 3) {
      p[0] = 200 - 100 * x / width;
      p[1] = 40 + 100 * y / height;
      p[2] = 90 + 40 * (x + y) / (width + height);
    }
  }
  gst_buffer_unmap (buf, &map);
  return buf;
}

/* Mean absolute difference of two default-stride RGB pictures, and the
 * largest difference between the mean levels of one channel (a sign of
 * swapped channels or a colour matrix gone wrong). */
static void
compare_rgb (GstBuffer * a, GstBuffer * b, gint width, gint height,
    gdouble * mean_abs, gdouble * channel_shift)
{
  GstVideoInfo info;
  GstMapInfo ma, mb;
  gdouble sum = 0, level[3] = { 0, 0, 0 };
  gint x, y, c;

  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, width, height);
  fail_unless_equals_int (gst_buffer_get_size (b), GST_VIDEO_INFO_SIZE (&info));
  fail_unless (gst_buffer_map (a, &ma, GST_MAP_READ));
  fail_unless (gst_buffer_map (b, &mb, GST_MAP_READ));
  for (y = 0; y < height; y++) {
    gsize row = y * GST_VIDEO_INFO_PLANE_STRIDE (&info, 0);

    for (x = 0; x < width; x++) {
      for (c = 0; c < 3; c++) {
        gint d = (gint) mb.data[row + 3 * x + c] - ma.data[row + 3 * x + c];

        sum += ABS (d);
        level[c] += d;
      }
    }
  }
  gst_buffer_unmap (a, &ma);
  gst_buffer_unmap (b, &mb);
  *mean_abs = sum / (3.0 * width * height);
  *channel_shift = 0;
  for (c = 0; c < 3; c++)
    *channel_shift = MAX (*channel_shift, ABS (level[c]) / (width * height));
}

static gchar *
rgb_caps (gint width, gint height)
{
  return g_strdup_printf ("video/x-raw, format=RGB, width=%d, height=%d, "
      "framerate=%d/1", width, height, FPS_N);
}

/* n encoded frames of a width x height picture, timestamped at FPS_N. */
static GList *
encode_frames (gint width, gint height, guint n, gint quality)
{
  GstHarness *h = gst_harness_new ("gricenc");
  gchar *caps = rgb_caps (width, height);
  GList *frames = NULL;
  guint i;

  g_object_set (h->element, "quality", quality, NULL);
  gst_harness_set_src_caps_str (h, caps);
  g_free (caps);
  for (i = 0; i < n; i++) {
    GstBuffer *in = make_rgb (width, height);

    GST_BUFFER_PTS (in) = i * FRAME_DURATION;
    GST_BUFFER_DURATION (in) = FRAME_DURATION;
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    frames = g_list_append (frames, gst_harness_pull (h));
  }
  gst_harness_teardown (h);
  return frames;
}

static GstBuffer *
encode_one (gint width, gint height, gint quality)
{
  GList *frames = encode_frames (width, height, 1, quality);
  GstBuffer *buf = frames->data;

  g_list_free (frames);
  return buf;
}

/* Concatenation of buffers, as in a .gric file. */
static GBytes *
concat (GList * frames)
{
  GByteArray *bytes = g_byte_array_new ();
  GList *l;

  for (l = frames; l != NULL; l = l->next) {
    GstMapInfo map;

    fail_unless (gst_buffer_map (l->data, &map, GST_MAP_READ));
    g_byte_array_append (bytes, map.data, map.size);
    gst_buffer_unmap (l->data, &map);
  }
  return g_byte_array_free_to_bytes (bytes);
}

static gchar *
write_temp (GBytes * bytes)
{
  GError *error = NULL;
  gchar *path;
  gint fd = g_file_open_tmp ("gric-test-XXXXXX.gric", &path, &error);

  fail_unless (fd >= 0, "%s", error ? error->message : "");
  g_close (fd, NULL);
  fail_unless (g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
          g_bytes_get_size (bytes), NULL));
  return path;
}

/* A write_temp() file of n frames of width x height. */
static gchar *
write_archive (gint width, gint height, guint n)
{
  GList *frames = encode_frames (width, height, n, 50);
  GBytes *bytes = concat (frames);
  gchar *path = write_temp (bytes);

  g_bytes_unref (bytes);
  g_list_free_full (frames, (GDestroyNotify) gst_buffer_unref);
  return path;
}

/* A buffer holding part of bytes. */
static GstBuffer *
slice (GBytes * bytes, gsize offset, gsize size)
{
  return gst_buffer_new_memdup ((const guint8 *) g_bytes_get_data (bytes,
          NULL) + offset, size);
}

/* A harness around gricdec fed with a byte stream (no framing). */
static GstHarness *
stream_decoder (GstBus ** bus)
{
  GstHarness *h = gst_harness_new ("gricdec");

  gst_harness_set_src_caps_str (h, "image/x-gric");
  gst_harness_set_sink_caps_str (h, "video/x-raw, format=RGB");
  *bus = gst_bus_new ();
  gst_element_set_bus (h->element, *bus);
  return h;
}

static void
on_handoff (G_GNUC_UNUSED GstElement * sink, GstBuffer * buf,
    G_GNUC_UNUSED GstPad * pad, GArray * pts)
{
  GstClockTime t = GST_BUFFER_PTS (buf);

  g_array_append_val (pts, t);
}

static GstElement *
counting_sink (GArray * pts)
{
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);

  fail_unless (sink != NULL);
  g_object_set (sink, "signal-handoffs", TRUE, "sync", FALSE, NULL);
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), pts);
  return sink;
}

/* Play pipeline to the end; returns the EOS or ERROR message. */
static GstMessage *
run_to_end (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "pipeline did not finish");
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (bus);
  return msg;
}

static void
assert_eos (GstMessage * msg)
{
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *error;
    gchar *debug;

    gst_message_parse_error (msg, &error, &debug);
    fail ("error from %s: %s (%s)", GST_OBJECT_NAME (msg->src),
        error->message, debug);
  }
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
  gst_message_unref (msg);
}

/* What the library itself makes of in: the reference for the elements. */
static GstBuffer *
library_round_trip (GstBuffer * in, gint width, gint height, gint quality)
{
  GricError err;
  GricModel *model = gric_model_open (gric_default_model_path (), &err);
  GricEncoder *enc;
  GricDecoder *dec;
  GstVideoInfo info;
  GstBuffer *out;
  GstMapInfo min, mout;
  guint8 *frame;
  size_t size;

  fail_unless (model != NULL, "%s", err.message);
  enc = gric_encoder_new (model, &err);
  dec = gric_decoder_new (model, &err);
  fail_unless (enc != NULL && dec != NULL);
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, width, height);
  out = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  fail_unless (gst_buffer_map (in, &min, GST_MAP_READ));
  fail_unless (gst_buffer_map (out, &mout, GST_MAP_WRITE));
  fail_unless_equals_int (gric_encode (enc, min.data, width, height,
          GST_VIDEO_INFO_PLANE_STRIDE (&info, 0), quality, &frame, &size, &err),
      GRIC_OK);
  fail_unless_equals_int (gric_decode (dec, frame, size, mout.data,
          GST_VIDEO_INFO_PLANE_STRIDE (&info, 0), &err), GRIC_OK);
  gst_buffer_unmap (in, &min);
  gst_buffer_unmap (out, &mout);
  gric_free (frame);
  gric_decoder_free (dec);
  gric_encoder_free (enc);
  gric_model_close (model);
  return out;
}

/* Encode and decode through format, comparing with what the library gives
 * for the RGB picture: the same for the RGB family, whose conversions are
 * lossless, and close for YUV. */
static void
check_round_trip (const gchar * format, gint width, gint height)
{
  gchar *desc = g_strdup_printf ("videoconvert ! video/x-raw,format=%s ! "
      "gricenc quality=90 ! gricdec ! video/x-raw,format=%s ! videoconvert",
      format, format);
  GstHarness *h = gst_harness_new_parse (desc);
  gchar *caps = rgb_caps (width, height);
  GstBuffer *in = make_rgb (width, height), *out, *expected;
  GstVideoFormat vformat = gst_video_format_from_string (format);
  gdouble mean_abs, shift;

  gst_harness_set_src_caps_str (h, caps);
  gst_harness_set_sink_caps_str (h, caps);
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_ref (in)),
      GST_FLOW_OK);
  out = gst_harness_pull (h);
  fail_unless (out != NULL);
  expected = library_round_trip (in, width, height, 90);
  compare_rgb (expected, out, width, height, &mean_abs, &shift);
  GST_INFO ("%s %dx%d: mean abs difference %.2f, channel shift %.2f", format,
      width, height, mean_abs, shift);
  if (GST_VIDEO_FORMAT_INFO_IS_RGB (gst_video_format_get_info (vformat)))
    fail_unless (mean_abs == 0, "%s %dx%d: mean abs difference %.2f",
        format, width, height, mean_abs);
  else
    fail_unless (mean_abs < 10 && shift < 12,
        "%s %dx%d: mean abs difference %.2f, channel shift %.2f", format,
        width, height, mean_abs, shift);

  gst_buffer_unref (expected);
  gst_buffer_unref (in);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  g_free (caps);
  g_free (desc);
}

static const gchar *formats[] = {
  "RGB", "BGR", "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB",
  "ABGR", "I420", "NV12", "YUY2"
};

GST_START_TEST (test_round_trip_formats)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++) {
    check_round_trip (formats[i], 1, 1);
    check_round_trip (formats[i], 17, 9);
  }
  check_round_trip ("RGB", 641, 479);
  check_round_trip ("I420", 641, 479);
}

GST_END_TEST;

GST_START_TEST (test_encoder_output)
{
  GstHarness *h = gst_harness_new ("gricenc");
  gchar *caps = rgb_caps (33, 7);
  GstCaps *out_caps;
  GstStructure *s;
  GstBuffer *buf;
  GstMapInfo map;
  GricFrameInfo info;
  GricError err;
  gint i, value;
  gboolean parsed;

  gst_harness_set_src_caps_str (h, caps);
  for (i = 0; i < 2; i++) {
    GstBuffer *in = make_rgb (33, 7);

    GST_BUFFER_PTS (in) = i * FRAME_DURATION;
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    buf = gst_harness_pull (h);
    /* Intra-only: no frame depends on another. */
    fail_if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT));
    fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), i * FRAME_DURATION);
    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    fail_unless_equals_int (gric_frame_info (map.data, map.size, &info, &err),
        GRIC_OK);
    fail_unless_equals_int (info.width, 33);
    fail_unless_equals_int (info.height, 7);
    fail_unless_equals_int (info.frame_size, map.size);
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
  }

  out_caps = gst_pad_get_current_caps (h->sinkpad);
  s = gst_caps_get_structure (out_caps, 0);
  fail_unless (gst_structure_has_name (s, "image/x-gric"));
  fail_unless (gst_structure_get_int (s, "width", &value) && value == 33);
  fail_unless (gst_structure_get_int (s, "height", &value) && value == 7);
  fail_unless (gst_structure_get_boolean (s, "parsed", &parsed) && parsed);
  fail_unless (gst_structure_has_field (s, "framerate"));
  gst_caps_unref (out_caps);
  gst_harness_teardown (h);
  g_free (caps);
}

GST_END_TEST;

GST_START_TEST (test_caps_refused)
{
  GstElement *enc = gst_element_factory_make ("gricenc", NULL);
  GstPad *pad = gst_element_get_static_pad (enc, "sink");
  GstCaps *gray = gst_caps_from_string ("video/x-raw, format=GRAY8, "
      "width=16, height=16, framerate=0/1");
  GstBuffer *frame = encode_one (16, 16, 50);
  GstHarness *h;
  GstBus *bus;
  GstMessage *msg;

  /* The encoder does not take grey video. */
  fail_if (gst_pad_query_accept_caps (pad, gray));
  gst_caps_unref (gray);
  gst_object_unref (pad);
  gst_object_unref (enc);

  /* The decoder fails when downstream only takes grey video. */
  h = gst_harness_new ("gricdec");
  bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, "image/x-gric, parsed=true");
  gst_harness_set_sink_caps_str (h, "video/x-raw, format=GRAY8");
  fail_unless_equals_int (gst_harness_push (h, frame),
      GST_FLOW_NOT_NEGOTIATED);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_decoder_prefers_rgb_and_video_meta)
{
  GstHarness *h = gst_harness_new ("gricdec");
  GstBuffer *out;
  GstCaps *caps;
  GstVideoInfo info;

  gst_harness_set_src_caps_str (h, "image/x-gric, parsed=true");
  gst_harness_set_sink_caps_str (h, "video/x-raw");
  gst_harness_add_propose_allocation_meta (h, GST_VIDEO_META_API_TYPE, NULL);
  fail_unless_equals_int (gst_harness_push (h, encode_one (19, 5, 50)),
      GST_FLOW_OK);
  out = gst_harness_pull (h);
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_video_info_from_caps (&info, caps));
  fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info), GST_VIDEO_FORMAT_RGB);
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), 19);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), 5);
  /* Downstream said it handles GstVideoMeta, so the pool adds it. */
  fail_unless (gst_buffer_get_video_meta (out) != NULL);
  gst_caps_unref (caps);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

GST_END_TEST;

static gsize
encoded_size (GstHarness * h, gint width, gint height)
{
  GstBuffer *out;
  gsize size;

  fail_unless_equals_int (gst_harness_push (h, make_rgb (width, height)),
      GST_FLOW_OK);
  out = gst_harness_pull (h);
  size = gst_buffer_get_size (out);
  gst_buffer_unref (out);
  return size;
}

GST_START_TEST (test_settings_while_playing)
{
  GstHarness *h = gst_harness_new ("gricenc");
  gchar *caps = rgb_caps (64, 48);
  gsize low, high, unoptimised, unrefined;

  gst_harness_set_src_caps_str (h, caps);
  fail_unless_equals_int (GST_STATE (h->element), GST_STATE_PLAYING);
  g_object_set (h->element, "quality", 5, NULL);
  low = encoded_size (h, 64, 48);
  g_object_set (h->element, "quality", 100, NULL);
  high = encoded_size (h, 64, 48);
  /* latent refinement moves the latents, so the frame changes */
  g_object_set (h->element, "refine-steps", 0, NULL);
  unrefined = encoded_size (h, 64, 48);
  /* without rate-distortion optimised quantisation (which refined frames
   * skip) the frame grows */
  g_object_set (h->element, "rdo-slope", 0, NULL);
  unoptimised = encoded_size (h, 64, 48);
  GST_INFO ("quality 5: %" G_GSIZE_FORMAT " bytes, 100: %" G_GSIZE_FORMAT
      ", 100 without refinement: %" G_GSIZE_FORMAT ", nor RDO: %"
      G_GSIZE_FORMAT, low, high, unrefined, unoptimised);
  fail_unless (high > low);
  fail_unless (unrefined != high);
  fail_unless (unoptimised > unrefined);
  gst_harness_teardown (h);
  g_free (caps);
}

GST_END_TEST;

/* Decode the archive at path through filesrc, read in small blocks so that
 * frames straddle buffers; caps, if any, go between the two. */
static GArray *
decode_file (const gchar * path, const gchar * caps)
{
  gchar *desc = g_strdup_printf ("filesrc location=\"%s\" blocksize=100 ! "
      "%s ! gricdec name=dec ! video/x-raw,format=RGB ! fakesink name=sink",
      path, caps);
  GstElement *pipeline = gst_parse_launch (desc, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GArray *pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));

  fail_unless (pipeline != NULL);
  g_object_set (sink, "signal-handoffs", TRUE, "sync", FALSE, NULL);
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), pts);
  assert_eos (run_to_end (pipeline));
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_free (desc);
  return pts;
}

GST_START_TEST (test_archive_filesrc)
{
  gchar *path = write_archive (24, 16, 5);
  GArray *pts;
  guint i;

  /* With a framerate upstream, timestamps follow it. */
  pts = decode_file (path, "image/x-gric, framerate=25/1");
  fail_unless_equals_int (pts->len, 5);
  for (i = 0; i < pts->len; i++)
    fail_unless_equals_uint64 (g_array_index (pts, GstClockTime, i),
        i * FRAME_DURATION);
  g_array_unref (pts);

  /* Without one, every frame still comes out. */
  pts = decode_file (path, "image/x-gric");
  fail_unless_equals_int (pts->len, 5);
  g_array_unref (pts);

  g_unlink (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_size_change)
{
  GList *frames = g_list_concat (encode_frames (8, 8, 1, 50),
      encode_frames (12, 6, 1, 50));
  GBytes *bytes = concat (frames);
  GstBus *bus;
  GstHarness *h = stream_decoder (&bus);
  GstBuffer *out;
  GstVideoInfo info;
  GstCaps *caps;

  fail_unless_equals_int (gst_harness_push (h, slice (bytes, 0,
              g_bytes_get_size (bytes))), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 2);
  out = gst_harness_pull (h);
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_video_info_from_caps (&info, caps));
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), 12);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), 6);
  fail_unless_equals_int (gst_buffer_get_size (out), GST_VIDEO_INFO_SIZE (&info));

  gst_caps_unref (caps);
  gst_buffer_unref (out);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  g_bytes_unref (bytes);
  g_list_free_full (frames, (GDestroyNotify) gst_buffer_unref);
}

GST_END_TEST;

GST_START_TEST (test_typefind)
{
  GList *frames = encode_frames (10, 10, 1, 50);
  GBytes *bytes = concat (frames);
  GstTypeFindProbability prob;
  GstTypeFindFactory *factory;
  GstCaps *caps;
  guint8 garbage[64];

  caps = gst_type_find_helper_for_data (NULL, g_bytes_get_data (bytes, NULL),
      g_bytes_get_size (bytes), &prob);
  fail_unless (caps != NULL);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (caps, 0),
          "image/x-gric"));
  fail_unless_equals_int (prob, GST_TYPE_FIND_MAXIMUM);
  gst_caps_unref (caps);

  /* Registered for the .gric extension, at a rank decodebin uses. */
  factory = GST_TYPE_FIND_FACTORY (gst_registry_lookup_feature
      (gst_registry_get (), "image/x-gric"));
  fail_unless (factory != NULL);
  fail_unless (g_strv_contains (gst_type_find_factory_get_extensions
          (factory), "gric"));
  fail_unless_equals_int (gst_plugin_feature_get_rank (GST_PLUGIN_FEATURE
          (factory)), GST_RANK_PRIMARY);
  gst_object_unref (factory);

  /* The magic with another version is not ours. */
  memcpy (garbage, g_bytes_get_data (bytes, NULL), sizeof garbage);
  garbage[4] = 99;
  caps = gst_type_find_helper_for_data (NULL, garbage, sizeof garbage, &prob);
  fail_unless (caps == NULL || !gst_structure_has_name
      (gst_caps_get_structure (caps, 0), "image/x-gric"));
  if (caps != NULL)
    gst_caps_unref (caps);

  g_bytes_unref (bytes);
  g_list_free_full (frames, (GDestroyNotify) gst_buffer_unref);
}

GST_END_TEST;

GST_START_TEST (test_decodebin_and_playbin)
{
  gchar *path = write_archive (16, 16, 3);
  gchar *uri = gst_filename_to_uri (path, NULL);
  gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! "
      "fakesink name=sink sync=false signal-handoffs=true", path);
  GstElement *pipeline = gst_parse_launch (desc, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GArray *pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));

  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), pts);
  assert_eos (run_to_end (pipeline));
  fail_unless_equals_int (pts->len, 3);
  gst_object_unref (sink);
  gst_object_unref (pipeline);

  g_array_set_size (pts, 0);
  pipeline = gst_element_factory_make ("playbin", NULL);
  fail_unless (pipeline != NULL);
  g_object_set (pipeline, "uri", uri, "video-sink", counting_sink (pts),
      "audio-sink", gst_element_factory_make ("fakesink", NULL), NULL);
  assert_eos (run_to_end (pipeline));
  fail_unless_equals_int (pts->len, 3);
  gst_object_unref (pipeline);

  g_array_unref (pts);
  g_unlink (path);
  g_free (desc);
  g_free (uri);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_truncated)
{
  GstBuffer *frame = encode_one (16, 16, 50);
  GstBus *bus;
  GstHarness *h = stream_decoder (&bus);
  GstMessage *msg;
  gsize half = gst_buffer_get_size (frame) / 2;

  /* Half a frame, then the end: nothing to show, an error posted. */
  g_object_set (h->element, "max-errors", 0, NULL);
  fail_unless_equals_int (gst_harness_push (h,
          gst_buffer_copy_region (frame, GST_BUFFER_COPY_MEMORY, 0, half)),
      GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_unref (msg);

  gst_buffer_unref (frame);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* A frame with byte offset flipped. */
static GstBuffer *
damaged (GstBuffer * frame, gsize offset)
{
  GstBuffer *copy = gst_buffer_copy_deep (frame);
  GstMapInfo map;

  fail_unless (gst_buffer_map (copy, &map, GST_MAP_WRITE));
  map.data[offset] ^= 0x5a;
  gst_buffer_unmap (copy, &map);
  return copy;
}

GST_START_TEST (test_corrupt_stream)
{
  GstBuffer *frame = encode_one (16, 16, 50);
  gsize size = gst_buffer_get_size (frame);
  GstBus *bus;
  GstHarness *h = stream_decoder (&bus);
  GstMessage *msg;
  guint8 noise[5000];
  GRand *rand;
  guint i;

  /* A damaged payload: that frame is dropped with a warning, the next one
   * decodes (default max-errors). */
  gst_harness_push (h, damaged (frame, size - 10));
  gst_harness_push (h, gst_buffer_ref (frame));
  /* A damaged header: skipped while resyncing on the next magic. */
  gst_harness_push (h, damaged (frame, 9));
  gst_harness_push (h, gst_buffer_ref (frame));
  /* Noise (fixed, for reproducible runs): skipped. */
  rand = g_rand_new_with_seed (1);
  for (i = 0; i < sizeof noise; i++)
    noise[i] = g_rand_int (rand);
  g_rand_free (rand);
  gst_harness_push (h, gst_buffer_new_memdup (noise, sizeof noise));
  gst_harness_push (h, gst_buffer_ref (frame));
  gst_harness_push_event (h, gst_event_new_eos ());

  fail_unless_equals_int (gst_harness_buffers_received (h), 3);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR) == NULL);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  /* Packetized, with max-errors 0: the first bad frame is fatal. */
  h = gst_harness_new ("gricdec");
  bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  g_object_set (h->element, "max-errors", 0, NULL);
  gst_harness_set_src_caps_str (h, "image/x-gric, parsed=true");
  fail_unless_equals_int (gst_harness_push (h, damaged (frame, size / 2)),
      GST_FLOW_ERROR);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  gst_buffer_unref (frame);
}

GST_END_TEST;

GST_START_TEST (test_max_pixels)
{
  GstBuffer *frame = encode_one (16, 12, 50);
  GstHarness *h = gst_harness_new ("gricdec");
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *gerror = NULL;
  gchar *debug = NULL;

  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, "image/x-gric, parsed=true");
  /* One pixel too many: refused, with the limit named in the error. */
  g_object_set (h->element, "max-errors", 0, "max-pixels",
      (guint64) (16 * 12 - 1), NULL);
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_ref (frame)),
      GST_FLOW_ERROR);
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &gerror, &debug);
  fail_unless (strstr (debug, "max-pixels") != NULL, "%s", debug);
  g_error_free (gerror);
  g_free (debug);
  gst_message_unref (msg);
  /* Exactly at the limit: decoded. */
  g_object_set (h->element, "max-pixels", (guint64) (16 * 12), NULL);
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_ref (frame)),
      GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);

  gst_buffer_unref (frame);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_flush)
{
  GstBuffer *a = encode_one (8, 8, 50), *b = encode_one (12, 4, 50), *out;
  GstBus *bus;
  GstHarness *h = stream_decoder (&bus);
  GstVideoInfo info;
  GstCaps *caps;

  /* Half of a, a flush, then b: the half frame must be forgotten. */
  gst_harness_push (h, gst_buffer_copy_region (a, GST_BUFFER_COPY_MEMORY, 0,
          gst_buffer_get_size (a) / 2));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_harness_set_src_caps_str (h, "image/x-gric");
  {
    GstSegment segment;

    gst_segment_init (&segment, GST_FORMAT_TIME);
    fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  }
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_ref (b)),
      GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  out = gst_harness_pull (h);
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_video_info_from_caps (&info, caps));
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), 12);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), 4);

  gst_caps_unref (caps);
  gst_buffer_unref (out);
  gst_buffer_unref (a);
  gst_buffer_unref (b);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_seek_to_start)
{
  gchar *path = write_archive (16, 8, 4);
  gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! "
      "image/x-gric,framerate=25/1 ! gricdec ! fakesink name=sink "
      "sync=false signal-handoffs=true", path);
  GstElement *pipeline = gst_parse_launch (desc, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GArray *pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));

  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), pts);
  gst_element_set_state (pipeline, GST_STATE_PAUSED);
  fail_unless_equals_int (gst_element_get_state (pipeline, NULL, NULL,
          30 * GST_SECOND), GST_STATE_CHANGE_SUCCESS);
  fail_unless (gst_element_seek_simple (pipeline, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH, 0));
  g_array_set_size (pts, 0);
  fail_unless_equals_int (gst_element_get_state (pipeline, NULL, NULL,
          30 * GST_SECOND), GST_STATE_CHANGE_SUCCESS);
  assert_eos (run_to_end (pipeline));
  /* Everything after the seek, from the first frame on. */
  fail_unless (pts->len >= 4);
  fail_unless_equals_uint64 (g_array_index (pts, GstClockTime,
          pts->len - 4), 0);

  g_array_unref (pts);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_unlink (path);
  g_free (desc);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_state_changes)
{
  GstElement *pipeline = gst_parse_launch ("videotestsrc num-buffers=3 ! "
      "video/x-raw,width=20,height=12 ! gricenc ! gricdec ! fakesink "
      "name=sink sync=false signal-handoffs=true", NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GArray *pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  static const GstState states[] = { GST_STATE_READY, GST_STATE_PAUSED,
    GST_STATE_PLAYING, GST_STATE_PAUSED, GST_STATE_READY, GST_STATE_NULL,
    GST_STATE_PLAYING, GST_STATE_NULL
  };
  guint round, i;

  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), pts);
  for (round = 0; round < 4; round++) {
    for (i = 0; i < G_N_ELEMENTS (states); i++) {
      fail_if (gst_element_set_state (pipeline, states[i]) ==
          GST_STATE_CHANGE_FAILURE);
      fail_if (gst_element_get_state (pipeline, NULL, NULL, 30 * GST_SECOND)
          == GST_STATE_CHANGE_FAILURE);
    }
  }
  /* Still works afterwards. */
  g_array_set_size (pts, 0);
  assert_eos (run_to_end (pipeline));
  fail_unless_equals_int (pts->len, 3);

  g_array_unref (pts);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
}

GST_END_TEST;

GST_START_TEST (test_missing_model)
{
  GstElement *pipeline = gst_parse_launch ("videotestsrc num-buffers=1 ! "
      "gricenc model=/nonexistent/gric.bin ! fakesink", NULL);
  GstMessage *msg;

  fail_unless (pipeline != NULL);
  msg = run_to_end (pipeline);
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_ERROR);
  gst_message_unref (msg);
  gst_object_unref (pipeline);
}

GST_END_TEST;

static Suite *
gric_suite (void)
{
  Suite *s = suite_create ("gric");
  TCase *tc = tcase_create ("elements");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_round_trip_formats);
  tcase_add_test (tc, test_encoder_output);
  tcase_add_test (tc, test_caps_refused);
  tcase_add_test (tc, test_decoder_prefers_rgb_and_video_meta);
  tcase_add_test (tc, test_settings_while_playing);
  tcase_add_test (tc, test_archive_filesrc);
  tcase_add_test (tc, test_size_change);
  tcase_add_test (tc, test_typefind);
  tcase_add_test (tc, test_decodebin_and_playbin);
  tcase_add_test (tc, test_truncated);
  tcase_add_test (tc, test_corrupt_stream);
  tcase_add_test (tc, test_max_pixels);
  tcase_add_test (tc, test_flush);
  tcase_add_test (tc, test_seek_to_start);
  tcase_add_test (tc, test_state_changes);
  tcase_add_test (tc, test_missing_model);
  return s;
}

GST_CHECK_MAIN (gric);
