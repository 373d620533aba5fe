/* map.c: separate-chaining hash table keyed by strings, with a seeded
 * multiply-and-shift hash.
 * SPDX-License-Identifier: MIT */
#include "map.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct map_entry {
	struct map_entry *next;
	uint64_t hash;
	void *value;
	char key[]; /* NUL-terminated copy */
};

struct core_map {
	struct map_entry **buckets;
	size_t bucket_count; /* power of two */
	size_t count;
	uint64_t seed;
};

/* Mix 64 bits (the splitmix64 finalizer: every input bit moves about
 * half of the output bits). */
static uint64_t
map_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Hash a key with the table's seed so peers cannot aim at one bucket.
 * Eight bytes a step: keys include whole tokens (hundreds of bytes). */
static uint64_t
map_hash(const core_map *m, const char *key)
{
	size_t len = strlen(key);
	const unsigned char *p = (const unsigned char *) key;
	uint64_t h = m->seed ^ ((uint64_t) len * 0x9e3779b97f4a7c15ULL), w;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, p, len);
	return map_mix(h ^ w);
}

core_map *
core_map_new(void)
{
	core_map *m;

	if ((m = calloc(1, sizeof *m)) == NULL)
		return NULL;
	m->bucket_count = 64;
	if ((m->buckets = calloc(m->bucket_count, sizeof *m->buckets)) ==
	    NULL) {
		free(m);
		return NULL;
	}
	if (getrandom(&m->seed, sizeof m->seed, GRND_NONBLOCK) !=
	    (ssize_t) sizeof m->seed)
		m->seed = (uint64_t) (uintptr_t) m ^ (uint64_t) cs_mono_us();
	return m;
}

void
core_map_free(core_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->bucket_count; i++) {
		struct map_entry *e = m->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->buckets);
	free(m);
}

/* Find the link that points at key's entry (or at the chain's end). */
static struct map_entry **
map_find(const core_map *m, const char *key, uint64_t hash)
{
	struct map_entry **link = &m->buckets[hash & (m->bucket_count - 1)];

	while (*link != NULL &&
	    ((*link)->hash != hash || strcmp((*link)->key, key) != 0))
		link = &(*link)->next;
	return link;
}

void *
core_map_get(const core_map *m, const char *key)
{
	struct map_entry **link = map_find(m, key, map_hash(m, key));

	return *link != NULL ? (*link)->value : NULL;
}

/* Double the bucket array when the load factor passes 1. */
static void
map_grow(core_map *m)
{
	size_t new_count = m->bucket_count * 2;
	struct map_entry **nb;

	if ((nb = calloc(new_count, sizeof *nb)) == NULL)
		return; /* keep working with longer chains */
	for (size_t i = 0; i < m->bucket_count; i++) {
		struct map_entry *e = m->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (new_count - 1)];
			nb[e->hash & (new_count - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = nb;
	m->bucket_count = new_count;
}

cs_err
core_map_put(core_map *m, const char *key, void *value, void **old)
{
	uint64_t hash = map_hash(m, key);
	struct map_entry **link = map_find(m, key, hash), *e;
	size_t key_len;

	if (*link != NULL) {
		if (old != NULL)
			*old = (*link)->value;
		(*link)->value = value;
		return CS_OK;
	}
	key_len = strlen(key);
	if ((e = malloc(sizeof *e + key_len + 1)) == NULL)
		return CS_ENOMEM;
	memcpy(e->key, key, key_len + 1);
	e->hash = hash;
	e->value = value;
	e->next = NULL;
	*link = e;
	m->count++;
	if (old != NULL)
		*old = NULL;
	if (m->count > m->bucket_count)
		map_grow(m);
	return CS_OK;
}

void *
core_map_del(core_map *m, const char *key)
{
	struct map_entry **link = map_find(m, key, map_hash(m, key)), *e;
	void *value;

	if ((e = *link) == NULL)
		return NULL;
	*link = e->next;
	value = e->value;
	free(e);
	m->count--;
	return value;
}

size_t
core_map_count(const core_map *m)
{
	return m->count;
}

void
core_map_each(const core_map *m,
    bool (*fn)(void *ud, const char *key, void *value), void *ud)
{
	for (size_t i = 0; i < m->bucket_count; i++)
		for (struct map_entry *e = m->buckets[i]; e; e = e->next)
			if (!fn(ud, e->key, e->value))
				return;
}
