/* demo.h - `visitdavd --demo`: demo users, calendars and visits (demo.c). */
#ifndef VD_DEMO_H
#define VD_DEMO_H

#include "server.h"

/* Add alice, bob (reps) and carol (manager), password "demo", to the users
 * file unless a user of that name exists (its password is then left
 * alone and a note logged).  Call before opening the user db. */
vd_err vd_demo_seed_users(const vd_config *cfg, vd_diag *d);

/* Provision the three users and, into each default calendar that is still
 * empty, write a few customer visits of the current and next week. */
vd_err vd_demo_seed_calendars(vd_server *s, vd_diag *d);

/* Print how to connect: URL, users, password, a calendar URL (stdout). */
void vd_demo_print(const vd_server *s, const char *url);

#endif
