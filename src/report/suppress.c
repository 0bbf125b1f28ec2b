/* suppress.c - small-cell suppression of the closed-loop report's counts.
 *
 * The rule (California's public-reporting practice, threshold default 11):
 *
 * 1. Primary: a count c with 0 < c < threshold is hidden. Zero is shown
 *    (it describes nobody). The median/p90 of a milestone reached by fewer
 *    than threshold referrals are hidden too (compute.c).
 * 2. Complementary: the published numbers obey linear equations a reader
 *    can solve:
 *      - per row (each group and the overall row):
 *          pending + accepted + in-progress + on-hold + served + not-served = total
 *          served + not-served = closed
 *      - per column (total, closed, overdue and each state): the groups'
 *        values add up to the overall row's value.
 *    Whenever an equation has exactly one hidden member, that member could
 *    be recomputed, so a second member of the same equation is hidden: the
 *    smallest non-zero visible one (ties: the first in row/column order),
 *    or a zero one when none is non-zero. This may hide a total (e.g. a
 *    group's total when its only other visible member is the total, or the
 *    overall value of a column) - the "totals that would reveal it" case.
 *    Hiding a cell can leave another equation with one hidden member, so
 *    the step repeats until no equation has exactly one hidden member.
 * 3. Share closed is hidden when closed or total is hidden.
 *
 * Known limit: this is the usual one-equation-at-a-time heuristic, not a
 * full linear-programming audit; with several group-by dimensions a hidden
 * cell may still be bounded (not recomputed exactly) through a chain of
 * equations, and several reports over overlapping data (e.g. by race and
 * by county separately) are not audited against each other.
 */
#include <stdbool.h>

#include "report/internal.h"

#define BIT(c) (1u << (c))

/* One equation: members are (row, cell) pairs. */
typedef struct member {
    size_t row;
    int cell;
} member;

/* If exactly one member is hidden, hide the best complement. True when a
 * cell was hidden. */
static bool protect(const uint32_t (*cells)[LG_RC_COUNT], uint32_t *supp, const member *m, size_t n)
{
    size_t hidden = 0;
    for(size_t i = 0; i < n; i++)
        if(supp[m[i].row] & BIT(m[i].cell))
            hidden++;
    if(hidden != 1)
        return false;
    size_t best = n;
    for(size_t i = 0; i < n; i++) {
        if(supp[m[i].row] & BIT(m[i].cell))
            continue;
        uint32_t v = cells[m[i].row][m[i].cell];
        if(best == n) {
            best = i;
            continue;
        }
        uint32_t bv = cells[m[best].row][m[best].cell];
        /* non-zero before zero, then smaller */
        if((bv == 0 && v != 0) || (v != 0 && v < bv))
            best = i;
    }
    if(best == n)
        return false;
    supp[m[best].row] |= BIT(m[best].cell);
    return true;
}

void lg_report_suppress(const uint32_t (*cells)[LG_RC_COUNT], uint32_t *supp, size_t rows,
                        unsigned threshold)
{
    for(size_t r = 0; r < rows; r++) {
        supp[r] = 0;
        for(int c = 0; c < LG_RC_COUNT; c++)
            if(cells[r][c] > 0 && cells[r][c] < threshold)
                supp[r] |= BIT(c);
    }
    if(rows == 0 || threshold <= 1)
        return;
    static const int columns[] = { LG_RC_PENDING, LG_RC_ACCEPTED, LG_RC_IN_PROGRESS, LG_RC_ON_HOLD,
                                   LG_RC_CLOSED_SERVED, LG_RC_CLOSED_NOT_SERVED, LG_RC_TOTAL,
                                   LG_RC_CLOSED, LG_RC_OVERDUE };
    member eq[LG_RC_STATES + 1];
    bool changed = true;
    while(changed) {
        changed = false;
        for(size_t r = 0; r < rows; r++) {
            for(int c = 0; c < LG_RC_STATES; c++)
                eq[c] = (member){ r, c };
            eq[LG_RC_STATES] = (member){ r, LG_RC_TOTAL };
            changed |= protect(cells, supp, eq, LG_RC_STATES + 1);
            eq[0] = (member){ r, LG_RC_CLOSED_SERVED };
            eq[1] = (member){ r, LG_RC_CLOSED_NOT_SERVED };
            eq[2] = (member){ r, LG_RC_CLOSED };
            changed |= protect(cells, supp, eq, 3);
        }
        if(rows < 2)
            continue;
        /* Column equations: groups 0..rows-2 add up to the overall row. */
        for(size_t k = 0; k < sizeof(columns) / sizeof(columns[0]); k++) {
            int c = columns[k];
            size_t hidden = 0;
            for(size_t r = 0; r < rows; r++)
                if(supp[r] & BIT(c))
                    hidden++;
            if(hidden != 1)
                continue;
            size_t best = rows;
            for(size_t r = 0; r < rows; r++) {
                if(supp[r] & BIT(c))
                    continue;
                uint32_t v = cells[r][c];
                if(best == rows) {
                    best = r;
                    continue;
                }
                uint32_t bv = cells[best][c];
                if((bv == 0 && v != 0) || (v != 0 && v < bv))
                    best = r;
            }
            if(best < rows) {
                supp[best] |= BIT(c);
                changed = true;
            }
        }
    }
}
