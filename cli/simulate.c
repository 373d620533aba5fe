/* simulate.c: countersignctl simulate: believable agent traffic from
 * several agents acting for several humans, for demos and load.
 * SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include "ctl.h"
#include "home.h"
#include "tok.h"

/* One simulated agent persona. */
struct persona {
	const char *agent, *user, *purpose, *scope, *chain;
	int trust;
};

static const struct persona personas[] = {
	{ "code-assistant", "alice", "refactor the billing service",
	    "tool:fs.* tool:shell.exec tool:http.get", NULL, 3 },
	{ "support-bot", "bob", "answer customer tickets",
	    "tool:email.* tool:db.query tool:http.get", NULL, 2 },
	{ "finance-agent", "carol", "pay supplier invoices for March",
	    "tool:payments.* tool:db.query tool:email.send", NULL, 2 },
	{ "research-agent", "dave", "summarise competitor pricing pages",
	    "tool:http.* tool:fs.read tool:fs.write", "planner", 2 },
	{ "ops-agent", "erin", "rotate expiring service credentials",
	    "tool:secrets.* tool:shell.exec tool:fs.*", NULL, 3 },
	{ "intern-bot", "frank", "clean up the shared drive",
	    "tool:fs.* tool:shell.exec", "orchestrator,cleaner", 2 },
};

/* One call template: tool and args, with a relative weight. */
struct call {
	int persona;   /* -1: any */
	int weight;
	const char *tool;
	const char *args;
};

static const struct call calls[] = {
	{ 0, 30, "fs.read", "{\"path\":\"/workspace/billing/invoice.c\"}" },
	{ 0, 8, "fs.write", "{\"path\":\"/workspace/billing/invoice.c\","
	    "\"bytes\":2048}" },
	{ 0, 6, "shell.exec", "{\"cmd\":\"make test\"}" },
	{ 0, 1, "shell.exec", "{\"cmd\":\"rm -rf / --no-preserve-root\"}" },
	{ 1, 20, "db.query", "{\"sql\":\"select * from tickets where "
	    "status = 'open' limit 20\"}" },
	{ 1, 10, "email.read", "{\"folder\":\"support\"}" },
	{ 1, 4, "email.send", "{\"to\":\"customer@gmail.com\",\"subject\":"
	    "\"Re: refund\"}" },
	{ 1, 1, "db.execute", "{\"sql\":\"DROP TABLE customers\"}" },
	{ 2, 10, "db.query", "{\"sql\":\"select * from invoices where "
	    "due < now()\"}" },
	{ 2, 3, "payments.transfer", "{\"amount\":42.5,\"currency\":\"EUR\","
	    "\"to\":\"DE89370400440532013000\"}" },
	{ 2, 2, "payments.transfer", "{\"amount\":18250,\"currency\":"
	    "\"EUR\",\"to\":\"GB29NWBK60161331926819\",\"memo\":\"invoice "
	    "7781\"}" },
	{ 3, 25, "http.get", "{\"url\":\"https://example.org/pricing\"}" },
	{ 3, 4, "http.post", "{\"url\":\"https://paste.example.net/api\","
	    "\"body\":\"summary...\"}" },
	{ 3, 6, "fs.write", "{\"path\":\"/workspace/notes/pricing.md\"}" },
	{ 4, 6, "secrets.read", "{\"name\":\"db/prod/password\"}" },
	{ 4, 2, "secrets.rotate", "{\"name\":\"api/stripe\"}" },
	{ 4, 8, "fs.list", "{\"path\":\"/etc/ssl\"}" },
	{ 5, 10, "fs.list", "{\"path\":\"/shared\"}" },
	{ 5, 3, "fs.delete", "{\"path\":\"/shared/old/report-2019.pdf\"}" },
	{ 5, 1, "shell.exec", "{\"cmd\":\"find /shared -mtime +365 "
	    "-delete\"}" },
	{ 5, 1, "fs.read", "{\"path\":\"/shared/\\u001b]0;PWNED\\u0007"
	    "\\u001b[31mfake\\u202e\"}" },
};

struct sim {
	char *tokens[CS_ARRAY_LEN(personas)];
	char sessions[CS_ARRAY_LEN(personas)][32];
	double rate;       /* calls per second per agent thread */
	int64_t until_ms;  /* monotonic end, 0: run forever */
	unsigned seed;
	long sent, allowed, denied, pending, errors;
	pthread_mutex_t mtx;
};

/* Pick a call for persona p with weighted randomness. */
static const struct call *
pick(int p, unsigned *seed)
{
	int total = 0, r;

	for (size_t i = 0; i < CS_ARRAY_LEN(calls); i++)
		if (calls[i].persona == p || calls[i].persona < 0)
			total += calls[i].weight;
	r = (int) (rand_r(seed) % (unsigned) total);
	for (size_t i = 0; i < CS_ARRAY_LEN(calls); i++) {
		if (calls[i].persona != p && calls[i].persona >= 0)
			continue;
		if ((r -= calls[i].weight) < 0)
			return &calls[i];
	}
	return &calls[0];
}

struct worker {
	struct sim *sim;
	int index;
};

/* One agent thread: ask, never wait for humans (operators decide async). */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct sim *sim = w->sim;
	unsigned seed = sim->seed + (unsigned) w->index * 7919u;
	int p = w->index % (int) CS_ARRAY_LEN(personas);
	cs_client *c = ctl_connect("agent.ipc");
	long n = 0;

	while (sim->until_ms == 0 || cs_mono_ms() < sim->until_ms) {
		const struct call *call = pick(p, &seed);
		char id[32], *cause = NULL;
		json_t *req, *reply = NULL;
		struct timespec ts;
		double gap;
		const char *d;

		snprintf(id, sizeof id, "sim-%d-%ld", w->index, ++n);
		req = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:{s:s}, "
		    "s:i}", "v", 1, "type", "authorize", "id", id, "token",
		    sim->tokens[p], "session", sim->sessions[p], "tool",
		    call->tool, "args", json_loads(call->args, 0, NULL),
		    "context", "purpose", personas[p].purpose, "wait_ms", 0);
		if (cs_client_call_json(c, req, 10000, &reply, &cause) ==
		    CS_OK) {
			d = json_string_value(json_object_get(reply,
			    "decision"));
			pthread_mutex_lock(&sim->mtx);
			sim->sent++;
			if (d == NULL)
				sim->errors++;
			else if (strcmp(d, "allow") == 0)
				sim->allowed++;
			else if (strcmp(d, "pending") == 0)
				sim->pending++;
			else
				sim->denied++;
			pthread_mutex_unlock(&sim->mtx);
		} else {
			pthread_mutex_lock(&sim->mtx);
			sim->errors++;
			pthread_mutex_unlock(&sim->mtx);
		}
		free(cause);
		json_decref(reply);
		json_decref(req);
		/* exponential gaps: a Poisson stream of calls */
		gap = -log1p(-(rand_r(&seed) % 10000) / 10000.0) / sim->rate;
		if (gap > 30)
			gap = 30;
		ts.tv_sec = (time_t) gap;
		ts.tv_nsec = (long) ((gap - (double) ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
	cs_client_close(c);
	return NULL;
}

int
ctl_simulate(int argc, char **argv)
{
	struct sim sim = { .rate = 2.0, .seed = 42 };
	int agents = 6;
	int64_t duration_ms = 0;
	const char *v;
	long long n;
	char *home, *cause = NULL;
	unsigned char *key = NULL;
	size_t key_len;
	pthread_t *threads;
	struct worker *workers;

	for (int i = 0; i < argc; i++) {
		if ((v = ctl_opt(argc, argv, &i, "--agents")) != NULL) {
			if (cs_parse_int(v, 1, 1024, &n) != CS_OK)
				return ctl_fail(64, "--agents must be 1-1024");
			agents = (int) n;
		} else if ((v = ctl_opt(argc, argv, &i, "--rate")) != NULL) {
			char *end;

			sim.rate = strtod(v, &end);
			if (*end != '\0' || !(sim.rate > 0 && sim.rate <= 1e5))
				return ctl_fail(64, "--rate must be a positive "
				    "number of calls per second");
		} else if ((v = ctl_opt(argc, argv, &i, "--duration")) !=
		    NULL) {
			if (cs_parse_duration_ms(v, &duration_ms) != CS_OK)
				return ctl_fail(64, "--duration: bad duration");
		} else if ((v = ctl_opt(argc, argv, &i, "--seed")) != NULL) {
			if (cs_parse_int(v, 0, 1LL << 31, &n) != CS_OK)
				return ctl_fail(64, "--seed must be a number");
			sim.seed = (unsigned) n;
		} else
			return ctl_fail(64, "simulate: unknown argument %s",
			    argv[i]);
	}
	/* --rate is the total; spread it over the agent threads */
	sim.rate /= agents;
	home = ctl_home();
	if (cs_home_key(home, false, &key, &key_len, &cause) != CS_OK) {
		free(home);
		return ctl_fail(69, "%s", cause);
	}
	free(home);
	for (size_t p = 0; p < CS_ARRAY_LEN(personas); p++) {
		const char *actors[4];
		char *chain = personas[p].chain ? strdup(personas[p].chain) :
		    NULL, *save = NULL, *t;
		core_tok_mint_opts o = {
			.user = personas[p].user, .agent = personas[p].agent,
			.scope = personas[p].scope, .ttl_s = 8 * 3600,
			.trust = personas[p].trust,
			.purpose = personas[p].purpose,
			.consent = "consent-2026-0113",
		};

		snprintf(sim.sessions[p], sizeof sim.sessions[p], "s-%s-%u",
		    personas[p].user, sim.seed % 1000);
		o.sid = sim.sessions[p];
		for (t = chain ? strtok_r(chain, ",", &save) : NULL; t != NULL;
		    t = strtok_r(NULL, ",", &save))
			actors[o.actor_count++] = t;
		o.actors = actors;
		if (core_tok_mint(key, key_len, &o, time(NULL),
		    &sim.tokens[p], &cause) != CS_OK) {
			free(chain);
			free(key);
			return ctl_fail(70, "%s", cause);
		}
		free(chain);
	}
	free(key);
	pthread_mutex_init(&sim.mtx, NULL);
	if (duration_ms > 0)
		sim.until_ms = cs_mono_ms() + duration_ms;
	threads = calloc((size_t) agents, sizeof *threads);
	workers = calloc((size_t) agents, sizeof *workers);
	if (threads == NULL || workers == NULL)
		return ctl_fail(70, "out of memory");
	for (int i = 0; i < agents; i++) {
		workers[i] = (struct worker) { &sim, i };
		pthread_create(&threads[i], NULL, worker_main, &workers[i]);
	}
	for (int i = 0; i < agents; i++)
		pthread_join(threads[i], NULL);
	printf("simulated %ld calls: %ld allowed, %ld denied, %ld escalated, "
	    "%ld errors\n", sim.sent, sim.allowed, sim.denied, sim.pending,
	    sim.errors);
	for (size_t p = 0; p < CS_ARRAY_LEN(personas); p++)
		free(sim.tokens[p]);
	free(threads);
	free(workers);
	return sim.errors > 0 ? 1 : 0;
}
