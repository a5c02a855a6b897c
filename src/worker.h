/*-------------------------------------------------------------------------
 * worker.h
 *		The launcher and the per-database maintenance workers.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_WORKER_H
#define TIEREDLOG_WORKER_H

extern int	tl_naptime;

extern void tl_register_launcher(void);

#endif							/* TIEREDLOG_WORKER_H */
