// SPDX-License-Identifier: GPL-2.0
/* ksv-vsmmu: The modules' debugfs and sysfs views, as the checks read them. */
#include "ksv-vsmmu.h"

void read_pins(struct pins *p)
{
	char line[16384];
	FILE *f = fopen(PIN_STATE, "r");

	memset(p, 0, sizeof(*p));
	p->pinned = p->rollovers = -1;
	if (!f)
		return;
	p->present = 1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "pinned:", 7)) {
			p->pinned = strtol(line + 7, NULL, 0);
		} else if (!strncmp(line, "rollovers:", 10)) {
			p->rollovers = strtol(line + 10, NULL, 0);
		} else if (!strncmp(line, "vmid refs:", 10)) {
			char *s = line + 10, *end;

			for (;;) {
				long v = strtol(s, &end, 0);

				if (end == s || *end != ':')
					break;
				if (p->n < (int)(sizeof(p->vmid) / sizeof(p->vmid[0])))
					p->vmid[p->n++] = (int)v;
				strtol(end + 1, &s, 0);
			}
		}
	}
	fclose(f);
}

int pins_has(const struct pins *p, int vmid)
{
	for (int i = 0; i < p->n; i++)
		if (p->vmid[i] == vmid)
			return 1;
	return 0;
}

/* The VMIDs pinned in @after but not in @before: the first, and how many. */
int pins_new(const struct pins *before, const struct pins *after, int *count)
{
	int first = -1;

	*count = 0;
	for (int i = 0; i < after->n; i++)
		if (!pins_has(before, after->vmid[i])) {
			if (first < 0)
				first = after->vmid[i];
			(*count)++;
		}
	return first;
}

void pins_str(const struct pins *p, char *buf, size_t len)
{
	size_t o;

	if (!p->present) {
		snprintf(buf, len, "absent");
		return;
	}
	o = snprintf(buf, len, "pinned=%ld vmids=[", p->pinned);
	for (int i = 0; i < p->n && o < len; i++)
		o += snprintf(buf + o, len - o, "%s%d", i ? "," : "", p->vmid[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

void read_vsmmus(struct vsmmus *v)
{
	char line[1024];
	FILE *f = fopen(BTM_STATE, "r");

	memset(v, 0, sizeof(*v));
	if (!f)
		return;
	v->present = 1;
	while (fgets(line, sizeof(line), f) && v->n < 64) {
		char *p = strstr(line, "vsmmu "), *q;
		size_t k;

		if (!p)
			continue;
		p += 6;
		q = strstr(p, "vmid ");
		if (!q)
			continue;
		k = strcspn(p, ": \n");
		snprintf(v->key[v->n], sizeof(v->key[0]), "%.*s", (int)k, p);
		p = strstr(q, "(vm ");
		v->vm[v->n][0] = 0;
		if (p)
			snprintf(v->vm[v->n], sizeof(v->vm[0]), "%.*s", (int)strcspn(p + 4, ")\n"),
				 p + 4);
		v->vmid[v->n++] = atoi(q + 5);
	}
	fclose(f);
}

/* The VMID of the first vSMMU in @after not in @before, or -1. */
int vsmmu_new(const struct vsmmus *before, const struct vsmmus *after, int *count)
{
	int first = -1;

	*count = 0;
	for (int i = 0; i < after->n; i++) {
		int known = 0;

		for (int j = 0; j < before->n; j++)
			known |= !strcmp(before->key[j], after->key[i]);
		if (!known) {
			if (first < 0)
				first = after->vmid[i];
			(*count)++;
		}
	}
	return first;
}

long refcnt(const char *mod)
{
	char path[256];
	long val = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", mod);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &val) != 1)
		val = -1;
	fclose(f);
	return val;
}

void take_snap(struct snap *s)
{
	struct vsmmus v;
	struct pins p;

	read_pins(&p);
	s->pinned = p.pinned;
	read_vsmmus(&v);
	s->vsmmus = v.present ? v.n : -1;
	for (int i = 0; i < 2; i++)
		s->refs[i] = refcnt(modnames[i]);
}

int snap_eq(const struct snap *a, const struct snap *b)
{
	return !memcmp(a, b, sizeof(*a));
}

void snap_str(const struct snap *s, char *buf, size_t len)
{
	snprintf(buf, len, "pinned=%ld vsmmus=%ld refcnt %s=%ld %s=%ld", s->pinned, s->vsmmus,
		 modnames[0], s->refs[0], modnames[1], s->refs[1]);
}

/* How often @needle occurs in the kernel log (since the last dmesg -c), or -1. */
int klog_count(const char *needle)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), n = 0;
	char *buf, *p;

	if (len <= 0)
		return -1;
	buf = malloc(len + 1);
	if (!buf)
		return -1;
	len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	if (len < 0) {
		free(buf);
		return -1;
	}
	buf[len] = 0;
	for (p = buf; (p = strstr(p, needle)); p++)
		n++;
	free(buf);
	return n;
}

/* Number of SMMU event reports in the kernel log so far. */
int smmu_events(void)
{
	return klog_count("event 0x");
}

/* The first "<key>: <N>" (spaces allowed before the colon) of a debugfs or proc file, or -1. */
long debugfs_value(const char *path, const char *key)
{
	char line[512];
	size_t n = strlen(key);
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *s = line + strspn(line, " ");
		const char *colon = s + n + strspn(s + n, " ");

		if (!strncmp(s, key, n) && *colon == ':') {
			v = strtol(colon + 1, NULL, 0);
			break;
		}
	}
	fclose(f);
	return v;
}
