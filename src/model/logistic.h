/*-------------------------------------------------------------------------
 * logistic.h
 *		L2-regularised logistic regression by IRLS (logistic.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_LOGISTIC_H
#define TIEREDLOG_LOGISTIC_H

#include "postgres.h"

extern double tl_logistic_predict(const double *coef, const double *x, int d);

#endif							/* TIEREDLOG_LOGISTIC_H */
