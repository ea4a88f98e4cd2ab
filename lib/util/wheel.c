/* Hashed timer wheel: SIOS__WHEEL_SLOTS slots of SIOS__WHEEL_TICK_MS each.
 * A timer lives in the slot of its expiry tick; timers more than one turn
 * away stay in their slot and are skipped until due. */
#include <string.h>

#include "util.h"

static void list_init(sios__timer *h) { h->next = h->prev = h; }

static void list_push(sios__timer *h, sios__timer *t)
{
	t->prev = h->prev;
	t->next = h;
	h->prev->next = t;
	h->prev = t;
}

static void list_unlink(sios__timer *t)
{
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->next = t->prev = NULL;
}

void sios__wheel_init(sios__wheel *w, uint64_t now_ms)
{
	for (int i = 0; i < SIOS__WHEEL_SLOTS; i++)
		list_init(&w->slots[i]);
	w->tick = now_ms / SIOS__WHEEL_TICK_MS;
	w->count = 0;
}

void sios__timer_init(sios__timer *t, sios__timer_cb cb)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
}

void sios__wheel_add(sios__wheel *w, sios__timer *t, uint64_t expires_ms)
{
	uint64_t tk = (expires_ms + SIOS__WHEEL_TICK_MS - 1) / SIOS__WHEEL_TICK_MS;

	if (t->next)
		sios__timer_cancel(w, t);
	if (tk < w->tick)
		tk = w->tick; /* already due: fires on the next advance */
	t->expires = expires_ms;
	list_push(&w->slots[tk % SIOS__WHEEL_SLOTS], t);
	w->count++;
}

void sios__timer_cancel(sios__wheel *w, sios__timer *t)
{
	if (!t->next)
		return;
	list_unlink(t);
	w->count--;
}

void sios__wheel_advance(sios__wheel *w, uint64_t now_ms)
{
	uint64_t last = now_ms / SIOS__WHEEL_TICK_MS;

	while (w->tick <= last && w->count) {
		/* advance first: a timer added by a callback lands in a later tick */
		sios__timer *head = &w->slots[w->tick++ % SIOS__WHEEL_SLOTS], pending;

		/* move the slot aside, so callbacks can re-add into it safely */
		list_init(&pending);
		if (head->next != head) {
			pending.next = head->next;
			pending.prev = head->prev;
			pending.next->prev = &pending;
			pending.prev->next = &pending;
			list_init(head);
		}
		while (pending.next != &pending) {
			sios__timer *t = pending.next;

			list_unlink(t);
			if (t->expires <= now_ms) {
				w->count--;
				t->cb(t);
			} else {
				list_push(head, t); /* a later turn of the wheel */
			}
		}
	}
	if (w->tick <= last)
		w->tick = last + 1;
}
