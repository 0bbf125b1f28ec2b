/* Unit tests for the closed-loop report's small-cell suppression
 * (src/report/suppress.c): primary suppression of 1..threshold-1,
 * complementary suppression in a row, in a column, a total hidden because
 * it would reveal a cell, the hidden median/p90 of few referrals, and the
 * invariant that no published equation has exactly one hidden member. */
#include <criterion/criterion.h>
#include <string.h>

#include "loopgate/report.h"

#define BIT(c) (1u << (c))
enum { P = LG_RC_PENDING, A = LG_RC_ACCEPTED, I = LG_RC_IN_PROGRESS, H = LG_RC_ON_HOLD,
       S = LG_RC_CLOSED_SERVED, N = LG_RC_CLOSED_NOT_SERVED, TOT = LG_RC_TOTAL, CL = LG_RC_CLOSED,
       OD = LG_RC_OVERDUE };

/* Fill the derived cells (total, closed) of a row from its states. */
static void derive(uint32_t *row)
{
    row[TOT] = 0;
    for(int c = 0; c < LG_RC_STATES; c++)
        row[TOT] += row[c];
    row[CL] = row[S] + row[N];
}

/* The last row is the sum of the others. */
static void overall(uint32_t (*m)[LG_RC_COUNT], size_t rows)
{
    memset(m[rows - 1], 0, sizeof(m[0]));
    for(size_t r = 0; r + 1 < rows; r++)
        for(int c = 0; c < LG_RC_COUNT; c++)
            m[rows - 1][c] += m[r][c];
}

/* No equation a reader can solve may have exactly one hidden member. */
static void assert_protected(const uint32_t (*m)[LG_RC_COUNT], const uint32_t *supp, size_t rows,
                             unsigned threshold)
{
    for(size_t r = 0; r < rows; r++) {
        for(int c = 0; c < LG_RC_COUNT; c++)
            if(m[r][c] > 0 && m[r][c] < threshold)
                cr_assert(supp[r] & BIT(c), "row %zu cell %d is small but shown", r, c);
        int hidden = 0;
        for(int c = 0; c < LG_RC_STATES; c++)
            hidden += !!(supp[r] & BIT(c));
        hidden += !!(supp[r] & BIT(TOT));
        cr_assert_neq(hidden, 1, "row %zu: the state equation reveals a cell", r);
        hidden = !!(supp[r] & BIT(S)) + !!(supp[r] & BIT(N)) + !!(supp[r] & BIT(CL));
        cr_assert_neq(hidden, 1, "row %zu: closed = served + not-served reveals a cell", r);
    }
    if(rows < 2)
        return;
    for(int c = 0; c < LG_RC_COUNT; c++) {
        int hidden = 0;
        for(size_t r = 0; r < rows; r++)
            hidden += !!(supp[r] & BIT(c));
        cr_assert_neq(hidden, 1, "column %d: the overall value reveals a cell", c);
    }
}

Test(report_suppress, primary_and_row_complement)
{
    /* One group: pending 5 (small), in-progress 20, served 30. Pending is
     * hidden; the row equation then needs a second hidden cell: the
     * smallest non-zero shown one, in-progress 20. The overall row equals
     * the group and gets the same. Zeros stay shown. */
    uint32_t m[2][LG_RC_COUNT] = { { [P] = 5, [I] = 20, [S] = 30 } };
    derive(m[0]);
    overall(m, 2);
    uint32_t supp[2];
    lg_report_suppress((const uint32_t (*)[LG_RC_COUNT])m, supp, 2, 11);
    cr_assert_eq(supp[0], BIT(P) | BIT(I));
    cr_assert_eq(supp[1], BIT(P) | BIT(I));
    assert_protected((const uint32_t (*)[LG_RC_COUNT])m, supp, 2, 11);
}

Test(report_suppress, nothing_hidden_above_threshold_or_when_off)
{
    uint32_t m[2][LG_RC_COUNT] = { { [P] = 11, [S] = 40, [N] = 0, [OD] = 11 } };
    derive(m[0]);
    overall(m, 2);
    uint32_t supp[2];
    lg_report_suppress((const uint32_t (*)[LG_RC_COUNT])m, supp, 2, 11);
    cr_assert_eq(supp[0] | supp[1], 0);
    m[0][P] = 3;
    derive(m[0]);
    overall(m, 2);
    lg_report_suppress((const uint32_t (*)[LG_RC_COUNT])m, supp, 2, 1); /* threshold 1: off */
    cr_assert_eq(supp[0] | supp[1], 0);
}

Test(report_suppress, column_complement_across_groups)
{
    /* Three groups; only group 0 has a small cell (accepted 4). Its row
     * hides the smallest other non-zero cell (pending 12). Then the
     * accepted and pending columns each have one hidden cell, so the
     * smallest non-zero shown cell in each column is hidden too (accepted:
     * group 2's 15; pending: group 1's 13), which in turn forces those rows
     * to hide a second cell, and so on until every equation is safe. */
    uint32_t m[4][LG_RC_COUNT] = {
        { [P] = 12, [A] = 4, [S] = 50, [N] = 20 },
        { [P] = 13, [A] = 30, [S] = 60, [N] = 25 },
        { [P] = 40, [A] = 15, [S] = 70, [N] = 30 },
    };
    for(int r = 0; r < 3; r++)
        derive(m[r]);
    overall(m, 4);
    uint32_t supp[4];
    lg_report_suppress((const uint32_t (*)[LG_RC_COUNT])m, supp, 4, 11);
    cr_assert(supp[0] & BIT(A));
    cr_assert(supp[0] & BIT(P));  /* row complement */
    cr_assert(supp[2] & BIT(A));  /* accepted column complement */
    cr_assert(supp[1] & BIT(P));  /* pending column complement */
    cr_assert_eq(supp[0] & (BIT(S) | BIT(N) | BIT(TOT) | BIT(CL)), 0); /* group 0's big cells stay */
    assert_protected((const uint32_t (*)[LG_RC_COUNT])m, supp, 4, 11);
}

Test(report_suppress, a_total_that_would_reveal_a_cell_is_hidden)
{
    /* pending 5 is hidden; the row's smallest non-zero shown state is
     * served 12, hidden as its complement. Then closed = served +
     * not-served (0) would give served back: the only non-zero member left
     * in that equation is the closed total itself, so closed is hidden
     * (and share closed with it). */
    uint32_t m[2][LG_RC_COUNT] = { { [P] = 5, [I] = 20, [S] = 12 } };
    derive(m[0]);
    overall(m, 2);
    uint32_t supp[2];
    lg_report_suppress((const uint32_t (*)[LG_RC_COUNT])m, supp, 2, 11);
    cr_assert_eq(supp[0], BIT(P) | BIT(S) | BIT(CL));
    cr_assert_eq(supp[0] & BIT(TOT), 0);
    assert_protected((const uint32_t (*)[LG_RC_COUNT])m, supp, 2, 11);
}

Test(report_suppress, a_small_group_total_is_protected_by_another_group)
{
    /* Group 0 has 6 referrals in all (total hidden with its cells); the
     * overall total minus group 1's total would give it back, so group 1's
     * total is hidden as well, then its row hides a second cell. */
    uint32_t m[3][LG_RC_COUNT] = {
        { [P] = 2, [S] = 4 },
        { [P] = 30, [A] = 20, [S] = 100, [N] = 40 },
    };
    derive(m[0]);
    derive(m[1]);
    overall(m, 3);
    uint32_t supp[3];
    lg_report_suppress((const uint32_t (*)[LG_RC_COUNT])m, supp, 3, 11);
    cr_assert(supp[0] & BIT(TOT));
    cr_assert(supp[1] & BIT(TOT));
    assert_protected((const uint32_t (*)[LG_RC_COUNT])m, supp, 3, 11);
}

Test(report_suppress, overdue_column_is_protected)
{
    /* Overdue is not in a row equation (its complement is not published),
     * but its column adds up to the overall overdue count. */
    uint32_t m[4][LG_RC_COUNT] = {
        { [P] = 20, [A] = 20, [OD] = 3 },
        { [P] = 30, [A] = 25, [OD] = 14 },
        { [P] = 40, [A] = 35, [OD] = 25 },
    };
    for(int r = 0; r < 3; r++)
        derive(m[r]);
    overall(m, 4);
    uint32_t supp[4];
    lg_report_suppress((const uint32_t (*)[LG_RC_COUNT])m, supp, 4, 11);
    cr_assert_eq(supp[0], BIT(OD));
    cr_assert_eq(supp[1], BIT(OD)); /* 14 < 25 */
    cr_assert_eq(supp[2] | supp[3], 0);
    assert_protected((const uint32_t (*)[LG_RC_COUNT])m, supp, 4, 11);
}

Test(report_suppress, random_tables_keep_the_invariant)
{
    /* Deterministic pseudo-random tables of small and large cells. */
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for(int round = 0; round < 300; round++) {
        size_t rows = 2 + (size_t)(round % 7);
        uint32_t m[9][LG_RC_COUNT];
        memset(m, 0, sizeof(m));
        for(size_t r = 0; r + 1 < rows; r++) {
            for(int c = 0; c < LG_RC_STATES; c++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                m[r][c] = (x % 4 == 0) ? 0 : (x % 3 == 0) ? (uint32_t)(x % 11) : (uint32_t)(x % 60);
            }
            derive(m[r]);
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            uint32_t open = m[r][P] + m[r][A] + m[r][I] + m[r][H];
            m[r][OD] = open ? (uint32_t)(x % (open + 1)) : 0;
        }
        overall(m, rows);
        uint32_t supp[9];
        lg_report_suppress((const uint32_t (*)[LG_RC_COUNT])m, supp, rows, 11);
        assert_protected((const uint32_t (*)[LG_RC_COUNT])m, supp, rows, 11);
    }
}
