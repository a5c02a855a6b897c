/*-------------------------------------------------------------------------
 * logistic.c
 *		L2-regularised logistic regression fitted by IRLS (Newton's method), as an aggregate:
 *		logistic_fit(x float8[], y boolean [, lambda float8 [, weight float8 [, prior float8[]]]])
 *		returns the coefficients, intercept first, on the scale of x. The prediction model trains
 *		with it (and so can anyone): weights make recent examples count more, and the penalty
 *		shrinks towards a prior (coefficients on the scale of x) instead of towards zero.
 *
 *		The transition function keeps the rows (x, y); the final function fits:
 *		- features are standardised (mean 0, standard deviation 1); a constant feature keeps the
 *		  prior's coefficient (0 without a prior): the rows say nothing about it; the penalty
 *		  (lambda / 2) * ||beta - prior||^2 applies to the standardised coefficients, never to
 *		  the intercept; the fit starts at the prior;
 *		- each Newton step solves (X'WX + lambda I) delta = X'(y - p) - lambda beta by Cholesky;
 *		  a matrix that is not positive definite gets a ridge on its diagonal, ten times larger on
 *		  each failure; a step that lowers the penalised log-likelihood is halved until it does not;
 *		- the sigmoid branches on the sign of z, and the log-likelihood uses
 *		  softplus(z) = max(z, 0) + log1p(exp(-|z|)), so no exp() overflows;
 *		- rows with a NULL or non-finite value are skipped; stop when the largest change is below
 *		  1e-10 or after 100 steps (a warning says so: separable classes need lambda > 0).
 *		Reproduces MADlib's published IRLS fit of its "patients" example (see test/sql/model.sql).
 *
 * Locking: none; the rows live in the aggregate's memory context.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "model/logistic.h"

PG_FUNCTION_INFO_V1(tieredlog_logistic_accum);
PG_FUNCTION_INFO_V1(tieredlog_logistic_final);
PG_FUNCTION_INFO_V1(tieredlog_logistic_predict);

#define MAX_STEPS		100
#define MAX_HALVINGS	40
#define TOLERANCE		1e-10
#define MAX_FEATURES	1000

typedef struct FitState
{
	int			d;				/* features per row (without the intercept) */
	int64		n;				/* rows kept */
	int64		cap;
	double	   *x;				/* n * d */
	bool	   *y;
	double	   *w;				/* row weights (all 1 unless given) */
	double		lambda;
	double	   *prior;			/* d + 1 coefficients to shrink towards (NULL: zero) */
	int64		skipped;		/* rows with a NULL or non-finite value */
} FitState;

static double
sigmoid(double z)
{
	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	else
	{
		double		e = exp(z);

		return e / (1.0 + e);
	}
}

static double
softplus(double z)
{
	return (z > 0 ? z : 0) + log1p(exp(-fabs(z)));
}

/* ---- the aggregate's rows ---------------------------------------------------------------- */

static FitState *
state_init(MemoryContext aggcxt, int d, double lambda)
{
	FitState   *st = MemoryContextAllocZero(aggcxt, sizeof(FitState));

	st->d = d;
	st->cap = 1024;
	st->x = MemoryContextAlloc(aggcxt, sizeof(double) * st->cap * Max(d, 1));
	st->y = MemoryContextAlloc(aggcxt, sizeof(bool) * st->cap);
	st->w = MemoryContextAlloc(aggcxt, sizeof(double) * st->cap);
	st->lambda = lambda;
	return st;
}

static void
state_add(FitState *st, const double *x, bool y, double w)
{
	if (st->n == st->cap)
	{
		st->cap *= 2;
		if ((Size) st->cap * Max(st->d, 1) * sizeof(double) > MaxAllocHugeSize / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("logistic_fit cannot keep more than %lld rows of %d features",
							(long long) st->n, st->d)));
		st->x = repalloc_huge(st->x, sizeof(double) * st->cap * Max(st->d, 1));
		st->y = repalloc_huge(st->y, sizeof(bool) * st->cap);
		st->w = repalloc_huge(st->w, sizeof(double) * st->cap);
	}
	memcpy(st->x + st->n * st->d, x, sizeof(double) * st->d);
	st->w[st->n] = w;
	st->y[st->n++] = y;
}

/* A float8[] argument as doubles; NULL elements or a wrong length are errors. */
static double *
float8_array(ArrayType *arr, const char *what, int want)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	double	   *out;

	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n != want)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must have %d elements, not %d", what, want, n)));
	out = palloc(sizeof(double) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] || !isfinite(DatumGetFloat8(elems[i])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must hold finite numbers", what)));
		out[i] = DatumGetFloat8(elems[i]);
	}
	return out;
}

/*
 * _logistic_accum(state internal, x float8[], y boolean [, lambda float8 [, weight float8
 * [, prior float8[]]]])
 */
Datum
tieredlog_logistic_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	double		lambda = (PG_NARGS() > 3 && !PG_ARGISNULL(3)) ? PG_GETARG_FLOAT8(3) : 0.0;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	double	   *x;
	bool		finite = true;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "_logistic_accum called in non-aggregate context");
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3) && (lambda < 0 || isnan(lambda) || isinf(lambda)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lambda must be a finite number >= 0, not %g", lambda)));
	if (st != NULL && st->lambda != lambda)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lambda must be the same for every row")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (st)
			st->skipped++;
		PG_RETURN_POINTER(st);
	}
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("x must be a one-dimensional array")));
	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n > MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("logistic_fit takes at most %d features, not %d", MAX_FEATURES, n)));
	if (st == NULL)
		st = state_init(aggcxt, n, lambda);
	else if (n != st->d)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("every x must have %d elements, not %d", st->d, n)));
	x = palloc(sizeof(double) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] || isnan(DatumGetFloat8(elems[i])) || isinf(DatumGetFloat8(elems[i])))
			finite = false;
		else
			x[i] = DatumGetFloat8(elems[i]);
	}
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5) && st->prior == NULL)
	{
		double	   *prior = float8_array(PG_GETARG_ARRAYTYPE_P(5), "prior", st->d + 1);

		st->prior = MemoryContextAlloc(aggcxt, sizeof(double) * (st->d + 1));
		memcpy(st->prior, prior, sizeof(double) * (st->d + 1));
	}
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		double		w = PG_GETARG_FLOAT8(4);

		if (!(w >= 0) || isinf(w))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("weight must be a finite number >= 0, not %g", w)));
		if (finite && w > 0)
			state_add(st, x, PG_GETARG_BOOL(2), w);
		else
			st->skipped++;
	}
	else if (finite)
		state_add(st, x, PG_GETARG_BOOL(2), 1.0);
	else
		st->skipped++;
	pfree(x);
	PG_RETURN_POINTER(st);
}

/* ---- the fit ----------------------------------------------------------------------------- */

/* In-place Cholesky of the k x k matrix a (lower triangle); false if not positive definite. */
static bool
cholesky(double *a, int k)
{
	for (int j = 0; j < k; j++)
	{
		double		s = a[j * k + j];

		for (int p = 0; p < j; p++)
			s -= a[j * k + p] * a[j * k + p];
		if (!(s > 0) || !isfinite(s))
			return false;
		a[j * k + j] = sqrt(s);
		for (int i = j + 1; i < k; i++)
		{
			double		t = a[i * k + j];

			for (int p = 0; p < j; p++)
				t -= a[i * k + p] * a[j * k + p];
			a[i * k + j] = t / a[j * k + j];
		}
	}
	return true;
}

/* Solve L L' x = b with the factor from cholesky(); b is overwritten by x. */
static void
cholesky_solve(const double *l, int k, double *b)
{
	for (int i = 0; i < k; i++)
	{
		double		s = b[i];

		for (int p = 0; p < i; p++)
			s -= l[i * k + p] * b[p];
		b[i] = s / l[i * k + i];
	}
	for (int i = k - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (int p = i + 1; p < k; p++)
			s -= l[p * k + i] * b[p];
		b[i] = s / l[i * k + i];
	}
}

/* Standardised design: z[r * k + 0] = 1, z[r * k + 1 + j] = (x - center) / scale (0 if constant). */
static double *
standardise(const FitState *st, double *center, double *scale)
{
	int			k = st->d + 1;
	double	   *z = palloc_extended(sizeof(double) * st->n * k, MCXT_ALLOC_HUGE);

	for (int j = 0; j < st->d; j++)
	{
		double		mean = 0;
		double		m2 = 0;

		/* Welford: one pass, no cancellation */
		for (int64 r = 0; r < st->n; r++)
		{
			double		v = st->x[r * st->d + j];
			double		delta = v - mean;

			mean += delta / (r + 1);
			m2 += delta * (v - mean);
		}
		center[j] = mean;
		scale[j] = st->n > 1 ? sqrt(m2 / (st->n - 1)) : 0;
	}
	for (int64 r = 0; r < st->n; r++)
	{
		z[r * k] = 1.0;
		for (int j = 0; j < st->d; j++)
			z[r * k + 1 + j] = scale[j] > 0 ? (st->x[r * st->d + j] - center[j]) / scale[j] : 0.0;
	}
	return z;
}

/* Penalised log-likelihood of beta (k coefficients, intercept first, not penalised). */
static double
penalised_loglik(const FitState *st, const double *z, const double *beta, const double *prior, int k)
{
	double		ll = 0;
	double		pen = 0;

	for (int64 r = 0; r < st->n; r++)
	{
		double		eta = 0;

		for (int j = 0; j < k; j++)
			eta += z[r * k + j] * beta[j];
		ll += st->w[r] * ((st->y[r] ? eta : 0) - softplus(eta));
	}
	for (int j = 1; j < k; j++)
		pen += (beta[j] - prior[j]) * (beta[j] - prior[j]);
	return ll - 0.5 * st->lambda * pen;
}

/* The Newton direction at beta: solves (H + ridge) delta = gradient; false if it cannot. */
static bool
newton_direction(const FitState *st, const double *z, const double *beta, const double *prior, int k,
				 const bool *active, double *delta, double *ridge)
{
	double	   *h = palloc0(sizeof(double) * k * k);
	double	   *g = palloc0(sizeof(double) * k);
	double	   *a = palloc(sizeof(double) * k * k);
	bool		ok = false;

	for (int64 r = 0; r < st->n; r++)
	{
		const double *zr = z + r * k;
		double		eta = 0;
		double		p;
		double		w;

		for (int j = 0; j < k; j++)
			eta += zr[j] * beta[j];
		p = sigmoid(eta);
		w = st->w[r] * p * (1 - p);
		for (int i = 0; i < k; i++)
		{
			g[i] += st->w[r] * ((st->y[r] ? 1.0 : 0.0) - p) * zr[i];
			for (int j = 0; j <= i; j++)
				h[i * k + j] += w * zr[i] * zr[j];
		}
	}
	for (int i = 1; i < k; i++)
	{
		g[i] -= st->lambda * (beta[i] - prior[i]);
		h[i * k + i] += st->lambda;
	}
	for (int attempt = 0; attempt < 30 && !ok; attempt++)
	{
		for (int i = 0; i < k; i++)
			for (int j = 0; j <= i; j++)
				a[i * k + j] = h[i * k + j] + (i == j ? *ridge : 0);
		/* a constant feature stays at 0: its row and column are the identity */
		for (int i = 1; i < k; i++)
			if (!active[i])
			{
				for (int j = 0; j < k; j++)
					a[i * k + j] = a[j * k + i] = 0;
				a[i * k + i] = 1;
				g[i] = 0;
			}
		if (cholesky(a, k))
			ok = true;
		else
			*ridge = *ridge > 0 ? *ridge * 10 : 1e-8;
	}
	if (ok)
	{
		memcpy(delta, g, sizeof(double) * k);
		cholesky_solve(a, k, delta);
	}
	pfree(h);
	pfree(g);
	pfree(a);
	return ok;
}

/*
 * Fit; coef gets d + 1 coefficients on the scale of x, intercept first. Returns the number of
 * Newton steps taken (-1: did not converge).
 */
static int
fit(const FitState *st, double *coef)
{
	int			k = st->d + 1;
	double	   *center = palloc(sizeof(double) * Max(st->d, 1));
	double	   *scale = palloc(sizeof(double) * Max(st->d, 1));
	double	   *z = standardise(st, center, scale);
	double	   *beta = palloc0(sizeof(double) * k);
	double	   *prior = palloc0(sizeof(double) * k);
	double	   *delta = palloc(sizeof(double) * k);
	double	   *trial = palloc(sizeof(double) * k);
	bool	   *active = palloc(sizeof(bool) * k);
	double		ridge = 0;
	double		ll;
	int			steps = -1;

	active[0] = true;
	for (int j = 0; j < st->d; j++)
		active[j + 1] = scale[j] > 0;
	/* the prior on the standardised scale (its intercept absorbs the centring); start from it */
	if (st->prior)
	{
		prior[0] = st->prior[0];
		for (int j = 0; j < st->d; j++)
		{
			prior[j + 1] = active[j + 1] ? st->prior[j + 1] * scale[j] : 0;
			prior[0] += st->prior[j + 1] * center[j];
		}
		memcpy(beta, prior, sizeof(double) * k);
	}
	ll = penalised_loglik(st, z, beta, prior, k);
	for (int step = 1; step <= MAX_STEPS; step++)
	{
		double		t = 1.0;
		double		change = 0;
		double		trial_ll = ll;
		int			halvings;

		CHECK_FOR_INTERRUPTS();
		if (!newton_direction(st, z, beta, prior, k, active, delta, &ridge))
			break;
		for (halvings = 0; halvings <= MAX_HALVINGS; halvings++, t /= 2)
		{
			for (int j = 0; j < k; j++)
				trial[j] = beta[j] + t * delta[j];
			trial_ll = penalised_loglik(st, z, trial, prior, k);
			if (trial_ll >= ll - 1e-12 * fabs(ll))
				break;
		}
		if (halvings > MAX_HALVINGS)
		{
			/* no step helps: the Hessian misleads; lean on the ridge and try again */
			ridge = ridge > 0 ? ridge * 10 : 1e-8;
			continue;
		}
		for (int j = 0; j < k; j++)
		{
			change = Max(change, fabs(trial[j] - beta[j]));
			beta[j] = trial[j];
		}
		ll = trial_ll;
		if (change < TOLERANCE)
		{
			steps = step;
			break;
		}
	}
	/* back to the scale of x */
	coef[0] = beta[0];
	for (int j = 0; j < st->d; j++)
	{
		coef[j + 1] = active[j + 1] ? beta[j + 1] / scale[j] : (st->prior ? st->prior[j + 1] : 0);
		coef[0] -= coef[j + 1] * center[j];
	}
	pfree(z);
	return steps;
}

/* _logistic_final(state internal): the coefficients, intercept first; NULL without rows */
Datum
tieredlog_logistic_final(PG_FUNCTION_ARGS)
{
	FitState   *st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	double	   *coef;
	Datum	   *out;
	int			steps;

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();
	coef = palloc(sizeof(double) * (st->d + 1));
	steps = fit(st, coef);
	if (steps < 0)
		ereport(WARNING,
				(errmsg("logistic_fit did not converge after %d Newton steps", MAX_STEPS),
				 errhint("Classes that a feature separates completely have no finite fit; use lambda > 0.")));
	out = palloc(sizeof(Datum) * (st->d + 1));
	for (int j = 0; j <= st->d; j++)
		out[j] = Float8GetDatum(coef[j]);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, st->d + 1, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* logistic_predict(coef float8[], x float8[]): the probability the model gives x */
double
tl_logistic_predict(const double *coef, const double *x, int d)
{
	double		eta = coef[0];

	for (int j = 0; j < d; j++)
		eta += coef[j + 1] * x[j];
	return sigmoid(eta);
}

Datum
tieredlog_logistic_predict(PG_FUNCTION_ARGS)
{
	ArrayType  *c = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *x = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *ce,
			   *xe;
	bool	   *cn,
			   *xn;
	int			nc,
				nx;
	double	   *cv,
			   *xv;

	deconstruct_array(c, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ce, &cn, &nc);
	deconstruct_array(x, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &xe, &xn, &nx);
	if (nc != nx + 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("coef must have one element more than x (the intercept), not %d for %d", nc, nx)));
	cv = palloc(sizeof(double) * nc);
	xv = palloc(sizeof(double) * Max(nx, 1));
	for (int i = 0; i < nc; i++)
	{
		if (cn[i] || (i < nx && xn[i]))
			PG_RETURN_NULL();
		cv[i] = DatumGetFloat8(ce[i]);
		if (i < nx)
			xv[i] = DatumGetFloat8(xe[i]);
	}
	PG_RETURN_FLOAT8(tl_logistic_predict(cv, xv, nx));
}
