/*
 * cleanstream_guard: what Mosquitto 2.0's configuration and dynamic-security plugin cannot enforce and cleanstream's
 * embedded broker does (bus/broker-auth.ts, bus/broker-limits.ts):
 *
 *   - a retained PUBLISH to a topic the design never retains (readings, alert acknowledgements) is denied, whoever
 *     sends it (MOSQ_EVT_ACL_CHECK);
 *   - connection attempts per client address are limited by a token bucket (MOSQ_EVT_BASIC_AUTH).
 *
 * Every other check is deferred (MOSQ_ERR_PLUGIN_DEFER) so that dynamic security still decides. Mosquitto asks the
 * plugins in the order of their `plugin` lines and stops at the first answer that is not a deferral, so this plugin
 * must be listed before dynamic security (README.md).
 *
 * Options (plugin_opt_<name> in mosquitto.conf):
 *   no_retain_topics          space-separated MQTT topic filters (default: the two below)
 *   connection_burst          attempts an address may make at once (default 30; 0 turns the limit off)
 *   connections_per_second    attempts an address regains per second (default 2)
 *
 * Mosquitto 2.0's broker runs its plugins on one thread: no locking.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define GUARD "cleanstream_guard"

#define MAX_FILTERS 32
#define MAX_FILTER_BYTES 1024
/* The cleanstream topic scheme (bus/topics.ts NOT_RETAINED_TOPICS). */
#define DEFAULT_NO_RETAIN_TOPICS "cleanstream/v1/readings/+/+ cleanstream/v1/alert-acks/#"

/* Addresses tracked at once: a bounded table, so a flood from many addresses cannot grow the broker's memory. */
#define BUCKET_SLOTS 4096 /* a power of two */
#define BUCKET_PROBES 8
#define ADDRESS_BYTES 64 /* longer than any IPv6 text form (45) */

struct bucket {
	char address[ADDRESS_BYTES];
	double tokens;
	double at;
	bool used;
	/* So that a refused address is logged once per run of refusals, not once per attempt. */
	bool refusing;
};

struct guard {
	mosquitto_plugin_id_t *id;
	char *filters[MAX_FILTERS];
	int filter_count;
	long burst;
	double per_second;
	struct bucket *buckets;
};

static struct guard guard;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * MQTT 3.1.1 §4.7 matching of a topic against a filter already checked by valid_filter(): `+` is one whole level,
 * `#` the rest (the parent level included), and wildcards at the start do not match a topic starting with `$`.
 */
static bool topic_matches(const char *filter, const char *topic)
{
	const char *f = filter;
	const char *t = topic;

	if(t[0] == '$' && (f[0] == '+' || f[0] == '#')) return false;
	for(;;){
		if(f[0] == '#') return true;
		if(f[0] == '+'){
			while(t[0] != '\0' && t[0] != '/') t++;
			f++;
		}else{
			while(f[0] != '\0' && f[0] != '/'){
				if(t[0] != f[0]) return false;
				f++;
				t++;
			}
			if(t[0] != '\0' && t[0] != '/') return false;
		}
		/* Both at the end of a level. */
		if(f[0] == '\0') return t[0] == '\0';
		if(t[0] == '\0') return strcmp(f, "/#") == 0;
		f++;
		t++;
	}
}

/* A filter whose wildcards each fill a whole level, `#` only last, no empty filter. */
static bool valid_filter(const char *filter)
{
	size_t len = strlen(filter);

	if(len == 0 || len >= MAX_FILTER_BYTES) return false;
	for(size_t i = 0; i < len; i++){
		char c = filter[i];
		bool level_start = (i == 0 || filter[i - 1] == '/');
		bool level_end = (i + 1 == len || filter[i + 1] == '/');
		if(c == '+' && !(level_start && level_end)) return false;
		if(c == '#' && !(level_start && i + 1 == len)) return false;
	}
	return true;
}

static void free_filters(void)
{
	for(int i = 0; i < guard.filter_count; i++){
		mosquitto_free(guard.filters[i]);
		guard.filters[i] = NULL;
	}
	guard.filter_count = 0;
}

static int parse_filters(const char *value)
{
	const char *p = value;

	free_filters();
	while(*p != '\0'){
		while(*p == ' ' || *p == '\t') p++;
		if(*p == '\0') break;
		size_t len = strcspn(p, " \t");
		if(guard.filter_count == MAX_FILTERS){
			mosquitto_log_printf(MOSQ_LOG_ERR, GUARD ": plugin_opt_no_retain_topics: at most %d filters", MAX_FILTERS);
			return MOSQ_ERR_INVAL;
		}
		if(len >= MAX_FILTER_BYTES){
			mosquitto_log_printf(MOSQ_LOG_ERR, GUARD ": plugin_opt_no_retain_topics: a filter is longer than %d bytes", MAX_FILTER_BYTES - 1);
			return MOSQ_ERR_INVAL;
		}
		char *filter = mosquitto_calloc(1, len + 1);
		if(filter == NULL) return MOSQ_ERR_NOMEM;
		memcpy(filter, p, len);
		filter[len] = '\0';
		if(!valid_filter(filter)){
			mosquitto_log_printf(MOSQ_LOG_ERR,
					GUARD ": plugin_opt_no_retain_topics: '%s' is not an MQTT topic filter (a `+` or `#` must fill a whole level, `#` only last)",
					filter);
			mosquitto_free(filter);
			return MOSQ_ERR_INVAL;
		}
		guard.filters[guard.filter_count++] = filter;
		p += len;
	}
	if(guard.filter_count == 0){
		mosquitto_log_printf(MOSQ_LOG_ERR, GUARD ": plugin_opt_no_retain_topics: expected at least one topic filter");
		return MOSQ_ERR_INVAL;
	}
	return MOSQ_ERR_SUCCESS;
}

/* A whole decimal number in [min, max], else an error naming the option and what it expects. */
static int parse_number(const char *name, const char *value, long min, long max, long *out)
{
	char *end = NULL;

	errno = 0;
	long n = strtol(value, &end, 10);
	while(end != NULL && (*end == ' ' || *end == '\t')) end++;
	if(errno != 0 || end == value || end == NULL || *end != '\0' || n < min || n > max){
		mosquitto_log_printf(MOSQ_LOG_ERR, GUARD ": plugin_opt_%s: expected a whole number from %ld to %ld, got '%s'", name, min, max, value);
		return MOSQ_ERR_INVAL;
	}
	*out = n;
	return MOSQ_ERR_SUCCESS;
}

/* A decimal number in (0, max], else an error naming the option and what it expects. */
static int parse_rate(const char *name, const char *value, double max, double *out)
{
	char *end = NULL;

	errno = 0;
	double n = strtod(value, &end);
	while(end != NULL && (*end == ' ' || *end == '\t')) end++;
	if(errno != 0 || end == value || end == NULL || *end != '\0' || !(n > 0.0) || n > max){
		mosquitto_log_printf(MOSQ_LOG_ERR, GUARD ": plugin_opt_%s: expected a number above 0 and at most %g, got '%s'", name, max, value);
		return MOSQ_ERR_INVAL;
	}
	*out = n;
	return MOSQ_ERR_SUCCESS;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	const struct mosquitto_evt_acl_check *ed = event_data;
	(void)event;
	(void)userdata;

	if(ed->access != MOSQ_ACL_WRITE || !ed->retain || ed->topic == NULL) return MOSQ_ERR_PLUGIN_DEFER;
	for(int i = 0; i < guard.filter_count; i++){
		if(topic_matches(guard.filters[i], ed->topic)){
			const char *id = mosquitto_client_id(ed->client);
			const char *user = mosquitto_client_username(ed->client);
			mosquitto_log_printf(MOSQ_LOG_WARNING,
					GUARD ": retained publish to %.256s refused (client %.128s, user %.128s): this topic is never retained",
					ed->topic, id ? id : "-", user ? user : "-");
			return MOSQ_ERR_ACL_DENIED;
		}
	}
	return MOSQ_ERR_PLUGIN_DEFER;
}

static uint32_t hash_address(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for(; *s != '\0'; s++){
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	return h;
}

/*
 * The address's bucket, refilled to `now`. An address not in the table takes a free slot among its probes, else one
 * whose bucket has refilled (it is indistinguishable from a new address), else the one idle longest.
 */
static struct bucket *bucket_for(const char *address, double now)
{
	uint32_t home = hash_address(address);
	struct bucket *victim = NULL;

	for(uint32_t i = 0; i < BUCKET_PROBES; i++){
		struct bucket *b = &guard.buckets[(home + i) & (BUCKET_SLOTS - 1)];
		if(!b->used){
			if(victim == NULL || victim->used) victim = b;
			continue;
		}
		double tokens = b->tokens + (now - b->at) * guard.per_second;
		b->tokens = tokens < (double)guard.burst ? tokens : (double)guard.burst;
		b->at = now;
		if(strcmp(b->address, address) == 0) return b;
		if(victim == NULL || (victim->used && b->tokens > victim->tokens)) victim = b;
	}
	snprintf(victim->address, sizeof(victim->address), "%s", address);
	victim->tokens = (double)guard.burst;
	victim->at = now;
	victim->used = true;
	victim->refusing = false;
	return victim;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	const struct mosquitto_evt_basic_auth *ed = event_data;
	char address[ADDRESS_BYTES];
	(void)event;
	(void)userdata;

	const char *from = mosquitto_client_address(ed->client);
	if(from == NULL) return MOSQ_ERR_PLUGIN_DEFER;
	snprintf(address, sizeof(address), "%s", from);
	struct bucket *b = bucket_for(address, now_seconds());
	if(b->tokens >= 1.0){
		b->tokens -= 1.0;
		b->refusing = false;
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	if(!b->refusing){
		b->refusing = true;
		mosquitto_log_printf(MOSQ_LOG_WARNING,
				GUARD ": connections from %s refused: more than %ld at once or %g a second (refusals from this address are not logged again until one is let in)",
				address, guard.burst, guard.per_second);
	}
	return MOSQ_ERR_AUTH;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5) return 5;
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **user_data, struct mosquitto_opt *opts, int opt_count)
{
	int rc;
	const char *filters = DEFAULT_NO_RETAIN_TOPICS;

	(void)user_data;
	memset(&guard, 0, sizeof(guard));
	guard.id = identifier;
	guard.burst = 30;
	guard.per_second = 2.0;
	for(int i = 0; i < opt_count; i++){
		const char *key = opts[i].key;
		const char *value = opts[i].value ? opts[i].value : "";
		if(strcmp(key, "no_retain_topics") == 0){
			filters = value;
		}else if(strcmp(key, "connection_burst") == 0){
			rc = parse_number(key, value, 0, 1000000, &guard.burst);
			if(rc) return rc;
		}else if(strcmp(key, "connections_per_second") == 0){
			rc = parse_rate(key, value, 1e6, &guard.per_second);
			if(rc) return rc;
		}else{
			/* The plugin_opt_ lines after a `plugin` line are that plugin's own: an unknown one is a typo. */
			mosquitto_log_printf(MOSQ_LOG_ERR,
					GUARD ": unknown option plugin_opt_%.64s (expected no_retain_topics, connection_burst or connections_per_second)", key);
			return MOSQ_ERR_INVAL;
		}
	}
	rc = parse_filters(filters);
	if(rc){
		free_filters();
		return rc;
	}

	rc = mosquitto_callback_register(guard.id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
	if(rc == MOSQ_ERR_SUCCESS && guard.burst > 0){
		guard.buckets = mosquitto_calloc(BUCKET_SLOTS, sizeof(struct bucket));
		if(guard.buckets == NULL){
			rc = MOSQ_ERR_NOMEM;
		}else{
			rc = mosquitto_callback_register(guard.id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
		}
	}
	if(rc){
		mosquitto_log_printf(MOSQ_LOG_ERR, GUARD ": could not register with the broker (error %d)", rc);
		return rc;
	}
	mosquitto_log_printf(MOSQ_LOG_NOTICE, GUARD ": %d topic filter(s) never retained; connections per address: %s",
			guard.filter_count, guard.burst > 0 ? "limited" : "not limited");
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *user_data, struct mosquitto_opt *opts, int opt_count)
{
	(void)user_data;
	(void)opts;
	(void)opt_count;

	mosquitto_callback_unregister(guard.id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	if(guard.buckets != NULL){
		mosquitto_callback_unregister(guard.id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
		mosquitto_free(guard.buckets);
		guard.buckets = NULL;
	}
	free_filters();
	return MOSQ_ERR_SUCCESS;
}
