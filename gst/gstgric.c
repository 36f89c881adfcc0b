/* gric GStreamer plugin: registration and typefinder.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "gstgric.h"
#include "gstgricdec.h"
#include "gstgricenc.h"

/* Frame headers start with "GRIC" and a version byte. */
#define GRIC_TYPEFIND_VERSION 1

static GstStaticCaps gric_caps = GST_STATIC_CAPS ("image/x-gric");

GricModel *
gst_gric_model_open (GstElement * element, const gchar * path)
{
  GricError err = { 0 };
  const gchar *file = path != NULL && *path != '\0' ? path :
      gric_default_model_path ();
  GricModel *model = gric_model_open (file, &err);

  if (model == NULL)
    GST_ELEMENT_ERROR (element, RESOURCE, OPEN_READ,
        ("Could not load the gric model \"%s\".", file), ("%s (%s)",
            err.message, gric_status_string (err.status)));
  return model;
}

static void
gric_type_find (GstTypeFind * tf, G_GNUC_UNUSED gpointer user_data)
{
  const guint8 *data = gst_type_find_peek (tf, 0, GRIC_HEADER_SIZE);
  GstTypeFindProbability prob = GST_TYPE_FIND_LIKELY;

  if (data != NULL) {
    GricFrameInfo info;
    GricError err;
    GricStatus status = gric_frame_info (data, GRIC_HEADER_SIZE, &info, &err);

    /* A header whose checksum holds is certain. */
    if (status == GRIC_OK || status == GRIC_ERR_TRUNCATED)
      prob = GST_TYPE_FIND_MAXIMUM;
  } else {
    data = gst_type_find_peek (tf, 0, 5);
    if (data == NULL)
      return;
  }
  if (memcmp (data, "GRIC", 4) == 0 && data[4] == GRIC_TYPEFIND_VERSION)
    gst_type_find_suggest (tf, prob, gst_static_caps_get (&gric_caps));
}

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ok = TRUE;

  ok &= gst_type_find_register (plugin, "image/x-gric", GST_RANK_PRIMARY,
      gric_type_find, "gric", gst_static_caps_get (&gric_caps), NULL, NULL);
  ok &= GST_ELEMENT_REGISTER (gricenc, plugin);
  ok &= GST_ELEMENT_REGISTER (gricdec, plugin);
  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, gric,
    "gric learned image codec: encoder, decoder and typefinder",
    plugin_init, VERSION, "LGPL", "gric", "https://example.invalid/gric")
