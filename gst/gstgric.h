/* gric GStreamer plugin: helpers shared by the elements.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_GRIC_H
#define GST_GRIC_H

#include <gst/gst.h>
#include <gric.h>

G_BEGIN_DECLS

/* Load the weight file at path (NULL or empty: gric_default_model_path()),
 * posting an element error on failure. */
GricModel *gst_gric_model_open (GstElement * element, const gchar * path);

G_END_DECLS

#endif
