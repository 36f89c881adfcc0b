/* Error reporting shared by every module.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_ERROR_H
#define GRIC_ERROR_H

#include "gric.h"

/* Fill err (may be NULL) and return status, so callers can `return gric_fail(...)`. */
GricStatus gric_fail(GricError *err, GricStatus status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
