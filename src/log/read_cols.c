/*-------------------------------------------------------------------------
 * read_cols.c
 *		Which output columns of read() the running query uses, read from its plan, so that a
 *		tier 2 segment skips rebuilding what nobody reads (a count(*) needs no payload and no rid).
 *
 * A materialized set-returning function is not told which of its columns are used. But the
 * executor calls it from a FunctionScan node whose function expression is the call's
 * fcinfo->flinfo->fn_expr, and the whole plan is in the executor state
 * (rsinfo->econtext->ecxt_estate->es_plannedstmt). So: find that FunctionScan in the plan, and
 * walk from the plan's root down to it, carrying the set of output columns each node needs from
 * its child (the Vars of its target list entries that its parent needs, of its quals, of its
 * node-specific expressions and column index arrays).
 *
 * Anything not understood answers "every column": no plan, a call from anywhere but a
 * FunctionScan, a FunctionScan of several functions or WITH ORDINALITY, a whole-row reference,
 * and every node type not listed in child_need() (joins other than the three kinds, window
 * functions, grouping sets, data-modifying nodes, ...). A wrong "not needed" would return NULL
 * where the query reads a value; a wrong "needed" only costs time, so the rules err that way.
 *
 * Locking: none (reads the executor's plan of the current query).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/execdesc.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"

#include "log/read_cols.h"

/* The Vars of one varno in an expression tree. */
typedef struct VarCollect
{
	int			varno;			/* a range table index, OUTER_VAR or INNER_VAR */
	Bitmapset  *attnos;
	bool		whole;			/* a whole-row or system column reference */
} VarCollect;

static bool
collect_walker(Node *node, VarCollect *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varno == ctx->varno && v->varlevelsup == 0)
		{
			if (v->varattno <= 0)
				ctx->whole = true;
			else
				ctx->attnos = bms_add_member(ctx->attnos, v->varattno);
		}
		return false;
	}
	return expression_tree_walker(node, collect_walker, (void *) ctx);
}

static void
collect(Node *node, VarCollect *ctx)
{
	(void) collect_walker(node, ctx);
}

/* The entries of a target list at the positions in `need` (1-based). */
static void
collect_tlist(List *tlist, const Bitmapset *need, VarCollect *ctx)
{
	ListCell   *lc;
	int			pos = 0;

	foreach(lc, tlist)
	{
		pos++;
		if (bms_is_member(pos, need))
			collect((Node *) lfirst(lc), ctx);
	}
}

static void
add_colidx(VarCollect *ctx, int n, const AttrNumber *cols)
{
	for (int i = 0; i < n; i++)
	{
		if (cols[i] <= 0)
			ctx->whole = true;
		else
			ctx->attnos = bms_add_member(ctx->attnos, cols[i]);
	}
}

/* Every position of a target list. */
static Bitmapset *
all_positions(List *tlist)
{
	Bitmapset  *b = NULL;

	for (int i = 1; i <= list_length(tlist); i++)
		b = bms_add_member(b, i);
	return b;
}

/* Push onto *path the nodes from `plan` down to the FunctionScan calling `fexpr`; false if none. */
static bool
find_path(Plan *plan, Node *fexpr, List **path)
{
	List	   *children = NIL;
	ListCell   *lc;

	if (plan == NULL)
		return false;
	check_stack_depth();
	if (IsA(plan, FunctionScan))
	{
		foreach(lc, ((FunctionScan *) plan)->functions)
			if (((RangeTblFunction *) lfirst(lc))->funcexpr == fexpr)
			{
				*path = lappend(*path, plan);
				return true;
			}
		return false;
	}
	switch (nodeTag(plan))
	{
		case T_Append:
			children = ((Append *) plan)->appendplans;
			break;
		case T_MergeAppend:
			children = ((MergeAppend *) plan)->mergeplans;
			break;
		case T_SubqueryScan:
			children = list_make1(((SubqueryScan *) plan)->subplan);
			break;
		case T_BitmapAnd:
			children = ((BitmapAnd *) plan)->bitmapplans;
			break;
		case T_BitmapOr:
			children = ((BitmapOr *) plan)->bitmapplans;
			break;
		case T_CustomScan:
			children = ((CustomScan *) plan)->custom_plans;
			break;
		default:
			break;
	}
	*path = lappend(*path, plan);
	if (find_path(plan->lefttree, fexpr, path) || find_path(plan->righttree, fexpr, path))
		return true;
	foreach(lc, children)
		if (find_path((Plan *) lfirst(lc), fexpr, path))
			return true;
	*path = list_delete_last(*path);
	return false;
}

/*
 * The output positions of `child` that `n` uses, given the positions of n's own output that are
 * needed; false when n is not understood (then every column is needed).
 */
static bool
child_need(Plan *n, Plan *child, const Bitmapset *need, Bitmapset **out)
{
	VarCollect	ctx = {0, NULL, false};

	if (child == n->lefttree)
		ctx.varno = OUTER_VAR;
	else if (child == n->righttree)
		ctx.varno = INNER_VAR;
	else if (IsA(n, Append) || IsA(n, MergeAppend))
		ctx.varno = OUTER_VAR;	/* their target lists refer to their inputs so */
	else if (IsA(n, SubqueryScan) && child == ((SubqueryScan *) n)->subplan)
		ctx.varno = (int) ((SubqueryScan *) n)->scan.scanrelid;
	else
		return false;

	switch (nodeTag(n))
	{
		case T_Result:
		case T_ProjectSet:
		case T_Material:
		case T_Gather:
		case T_Append:
		case T_SubqueryScan:
			break;
		case T_Sort:
			add_colidx(&ctx, ((Sort *) n)->numCols, ((Sort *) n)->sortColIdx);
			break;
		case T_IncrementalSort:
			add_colidx(&ctx, ((IncrementalSort *) n)->sort.numCols, ((IncrementalSort *) n)->sort.sortColIdx);
			break;
		case T_MergeAppend:
			add_colidx(&ctx, ((MergeAppend *) n)->numCols, ((MergeAppend *) n)->sortColIdx);
			break;
		case T_GatherMerge:
			add_colidx(&ctx, ((GatherMerge *) n)->numCols, ((GatherMerge *) n)->sortColIdx);
			break;
		case T_Unique:
			add_colidx(&ctx, ((Unique *) n)->numCols, ((Unique *) n)->uniqColIdx);
			break;
		case T_Limit:
			add_colidx(&ctx, ((Limit *) n)->uniqNumCols, ((Limit *) n)->uniqColIdx);
			collect(((Limit *) n)->limitOffset, &ctx);
			collect(((Limit *) n)->limitCount, &ctx);
			break;
		case T_Group:
			add_colidx(&ctx, ((Group *) n)->numCols, ((Group *) n)->grpColIdx);
			break;
		case T_Agg:
			{
				Agg		   *agg = (Agg *) n;

				if (agg->groupingSets != NIL || agg->chain != NIL)
					return false;
				add_colidx(&ctx, agg->numCols, agg->grpColIdx);
				break;
			}
		case T_Hash:
			collect((Node *) ((Hash *) n)->hashkeys, &ctx);
			break;
		case T_NestLoop:
			{
				ListCell   *lc;

				collect((Node *) ((Join *) n)->joinqual, &ctx);
				foreach(lc, ((NestLoop *) n)->nestParams)
					collect((Node *) ((NestLoopParam *) lfirst(lc))->paramval, &ctx);
				break;
			}
		case T_HashJoin:
			collect((Node *) ((Join *) n)->joinqual, &ctx);
			collect((Node *) ((HashJoin *) n)->hashclauses, &ctx);
			collect((Node *) ((HashJoin *) n)->hashkeys, &ctx);
			break;
		case T_MergeJoin:
			collect((Node *) ((Join *) n)->joinqual, &ctx);
			collect((Node *) ((MergeJoin *) n)->mergeclauses, &ctx);
			break;
		default:
			return false;
	}
	collect_tlist(n->targetlist, need, &ctx);
	collect((Node *) n->qual, &ctx);
	if (IsA(n, Result))
		collect(((Result *) n)->resconstantqual, &ctx);
	if (ctx.whole)
		return false;
	*out = ctx.attnos;
	return true;
}

/*
 * Which of the `natts` output columns the query reads: bit (attno - 1) set for each used one.
 * Every column when that cannot be told.
 */
static uint32
needed_columns(FunctionCallInfo fcinfo, int natts)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint32		all = (natts >= 32) ? ~(uint32) 0 : (((uint32) 1 << natts) - 1);
	Node	   *fexpr = fcinfo->flinfo ? fcinfo->flinfo->fn_expr : NULL;
	EState	   *estate;
	PlannedStmt *stmt;
	List	   *path = NIL;
	Plan	   *root = NULL;
	Bitmapset  *need;
	FunctionScan *fs;
	VarCollect	ctx = {0, NULL, false};
	uint32		cols = 0;
	int			x;
	ListCell   *lc;

	if (fexpr == NULL || rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || rsinfo->econtext == NULL ||
		(estate = rsinfo->econtext->ecxt_estate) == NULL || (stmt = estate->es_plannedstmt) == NULL)
		return all;
	if (find_path(stmt->planTree, fexpr, &path))
		root = stmt->planTree;
	else
	{
		foreach(lc, stmt->subplans)
		{
			list_free(path);
			path = NIL;
			if (find_path((Plan *) lfirst(lc), fexpr, &path))
			{
				root = (Plan *) lfirst(lc);
				break;
			}
		}
	}
	if (root == NULL)
		return all;
	/* the query's result, or a subplan's: every column of it is used */
	need = all_positions(root->targetlist);
	for (int i = 0; i + 1 < list_length(path); i++)
	{
		Bitmapset  *cneed;

		if (!child_need((Plan *) list_nth(path, i), (Plan *) list_nth(path, i + 1), need, &cneed))
			return all;
		need = cneed;
	}
	fs = (FunctionScan *) llast(path);
	if (list_length(fs->functions) != 1 || fs->funcordinality)
		return all;
	ctx.varno = (int) fs->scan.scanrelid;
	collect_tlist(fs->scan.plan.targetlist, need, &ctx);
	collect((Node *) fs->scan.plan.qual, &ctx);
	if (ctx.whole)
		return all;
	x = -1;
	while ((x = bms_next_member(ctx.attnos, x)) >= 0)
	{
		if (x > natts)
			return all;
		cols |= (uint32) 1 << (x - 1);
	}
	return cols;
}

/*
 * The same, worked out once per call site (the plan does not change while it runs; a rescan
 * calls again with the same FmgrInfo).
 */
uint32
tl_read_needed_columns(FunctionCallInfo fcinfo, int natts)
{
	uint32	   *cached;
	uint32		cols;

	Assert(natts > 0 && natts <= 32);
	if (fcinfo->flinfo == NULL)
		return needed_columns(fcinfo, natts);
	cached = (uint32 *) fcinfo->flinfo->fn_extra;
	if (cached != NULL)
		return *cached;
	cols = needed_columns(fcinfo, natts);
	cached = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(uint32));
	*cached = cols;
	fcinfo->flinfo->fn_extra = cached;
	return cols;
}
