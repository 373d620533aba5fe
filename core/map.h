/* map.h: a string-keyed hash table with a per-table random seed, used for
 * sessions, pending calls and recent decisions (flat cost as they grow).
 * SPDX-License-Identifier: MIT */
#ifndef CORE_MAP_H
#define CORE_MAP_H

#include "cs.h"

typedef struct core_map core_map;

/* core_map_new returns a new empty map; it never owns the values. The
 * keys are copied. NULL on OOM. */
core_map *core_map_new(void);

/* core_map_free frees the map and its key copies, not the values. */
void core_map_free(core_map *m);

/* core_map_get returns the value stored under key, or NULL. */
void *core_map_get(const core_map *m, const char *key);

/* core_map_put stores value under key, replacing any previous value
 * (returned through *old when old is not NULL). CS_ENOMEM on OOM. */
cs_err core_map_put(core_map *m, const char *key, void *value, void **old);

/* core_map_del removes key and returns its value, or NULL. */
void *core_map_del(core_map *m, const char *key);

/* core_map_count returns the number of entries. */
size_t core_map_count(const core_map *m);

/* core_map_each calls fn for every entry (in no particular order). fn may
 * not modify the map. Returning false stops the walk. */
void core_map_each(const core_map *m,
    bool (*fn)(void *ud, const char *key, void *value), void *ud);

#endif
