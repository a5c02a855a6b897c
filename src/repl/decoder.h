/*-------------------------------------------------------------------------
 * decoder.h
 *		The output plugin's protocol constants, and the mark a move leaves for it.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_DECODER_H
#define TIEREDLOG_DECODER_H

#define TL_PROTO_VERSION		2	/* what apply workers ask for; the decoder speaks 1 too */
#define TL_MOVE_MESSAGE_PREFIX	"tieredlog.move"

extern void tl_decoder_mark_move(void);

#endif							/* TIEREDLOG_DECODER_H */
