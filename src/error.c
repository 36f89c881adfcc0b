/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

GricStatus gric_fail(GricError *err, GricStatus status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

const char *gric_status_string(GricStatus status)
{
    switch (status) {
    case GRIC_OK: return "success";
    case GRIC_ERR_NOMEM: return "out of memory";
    case GRIC_ERR_IO: return "input/output error";
    case GRIC_ERR_INVALID_ARG: return "invalid argument";
    case GRIC_ERR_BAD_MODEL: return "bad or damaged weight file";
    case GRIC_ERR_NOT_GRIC: return "not a gric frame";
    case GRIC_ERR_TRUNCATED: return "truncated data";
    case GRIC_ERR_CORRUPT: return "corrupt data";
    case GRIC_ERR_MODEL_MISMATCH: return "frame was encoded with a different model";
    case GRIC_ERR_UNSUPPORTED: return "unsupported version or format";
    case GRIC_ERR_TOO_LARGE: return "image dimensions too large";
    }
    return "unknown error";
}

const char *gric_version_string(void)
{
    return "0.1.0";
}
