/* file_util.h — small file readers shared by the rlaifv subcommands. */
#ifndef RLV_FILE_UTIL_H
#define RLV_FILE_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Whole file into a malloc-ed buffer (caller frees); NULL with a message on error. */
uint8_t *read_file(const char *path, size_t *len, char *msg, size_t cap);

/* A JSON array of strings, one JSON string per line, or else plain text lines (one string per
 * non-blank line, a final \r dropped) -> a JSON array of strings (caller owns the reference);
 * NULL with a message on error (an array element that is not a string, text not UTF-8). */
json_t *read_string_list(const char *path, char *msg, size_t cap);

#endif
