/* PNG and binary PPM (P6) reading and writing for the CLI, chosen by extension.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_IMAGE_IO_H
#define GRIC_IMAGE_IO_H

#include <stdint.h>

typedef struct {
    uint32_t width, height;
    uint8_t *rgb;   /* packed RGB8, stride 3 * width */
} Image;

/* 0 on success; on failure -1 and a message in msg. */
int image_read(const char *path, Image *img, char *msg, size_t msg_size);
int image_write(const char *path, const Image *img, char *msg, size_t msg_size);
void image_free(Image *img);

#endif
