/*-------------------------------------------------------------------------
 * peer_stats.h
 *		Gathering peers' access statistics (peer_stats.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PEER_STATS_H
#define TIEREDLOG_PEER_STATS_H

extern char *tl_gather_peer_access(void);

#endif							/* TIEREDLOG_PEER_STATS_H */
