/*-------------------------------------------------------------------------
 * decoder.h
 *		The output plugin's protocol version (a move's mark for it is in log/tier.h).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_DECODER_H
#define TIEREDLOG_DECODER_H

#define TL_PROTO_VERSION		2	/* what apply workers ask for; the decoder speaks 1 too */

#endif							/* TIEREDLOG_DECODER_H */
