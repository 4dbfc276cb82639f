"""Generate LendingClub-format loan application CSVs (the shipped sample and load-test files).

``generate_sample(path, rows, seed)`` writes exactly the 151 columns, in order, of LendingClub's
public "accepted loans 2007-2018" export, with its quirks: " 36 months" (leading space), plain
``int_rate``/``revol_util`` numbers, counts written as "1.0", "Aug-1998" dates, trailing spaces
and commas (hence quoting) in ``emp_title``, "10+ years"/"< 1 year"/blank ``emp_length``, rare
ANY/NONE/OTHER home ownership, ``dti`` 999 outliers, zero incomes, ``revol_util`` above 100 and
the per-column blank rates of the real file. ``loan_status`` depends on the risk features, so
scoring the sample is meaningful.

Nothing is copied from real rows: the core fields come from a small generative model, the other
columns from ``_PROFILE`` (per column: blank rate plus quantiles or value frequencies, summarised
once from the 2,000-row real sample). Output is deterministic for a given ``seed`` and ``rows``;
it is written in vectorised chunks, so memory stays flat for millions of rows.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["COLUMNS", "generate_sample"]

CHUNK_ROWS = 20_000

# fmt: off
COLUMNS: tuple[str, ...] = (
    'id', 'member_id', 'loan_amnt', 'funded_amnt', 'funded_amnt_inv', 'term', 'int_rate',
    'installment', 'grade', 'sub_grade', 'emp_title', 'emp_length', 'home_ownership',
    'annual_inc', 'verification_status', 'issue_d', 'loan_status', 'pymnt_plan', 'url', 'desc',
    'purpose', 'title', 'zip_code', 'addr_state', 'dti', 'delinq_2yrs', 'earliest_cr_line',
    'fico_range_low', 'fico_range_high', 'inq_last_6mths', 'mths_since_last_delinq',
    'mths_since_last_record', 'open_acc', 'pub_rec', 'revol_bal', 'revol_util', 'total_acc',
    'initial_list_status', 'out_prncp', 'out_prncp_inv', 'total_pymnt', 'total_pymnt_inv',
    'total_rec_prncp', 'total_rec_int', 'total_rec_late_fee', 'recoveries',
    'collection_recovery_fee', 'last_pymnt_d', 'last_pymnt_amnt', 'next_pymnt_d',
    'last_credit_pull_d', 'last_fico_range_high', 'last_fico_range_low',
    'collections_12_mths_ex_med', 'mths_since_last_major_derog', 'policy_code',
    'application_type', 'annual_inc_joint', 'dti_joint', 'verification_status_joint',
    'acc_now_delinq', 'tot_coll_amt', 'tot_cur_bal', 'open_acc_6m', 'open_act_il',
    'open_il_12m', 'open_il_24m', 'mths_since_rcnt_il', 'total_bal_il', 'il_util',
    'open_rv_12m', 'open_rv_24m', 'max_bal_bc', 'all_util', 'total_rev_hi_lim', 'inq_fi',
    'total_cu_tl', 'inq_last_12m', 'acc_open_past_24mths', 'avg_cur_bal', 'bc_open_to_buy',
    'bc_util', 'chargeoff_within_12_mths', 'delinq_amnt', 'mo_sin_old_il_acct',
    'mo_sin_old_rev_tl_op', 'mo_sin_rcnt_rev_tl_op', 'mo_sin_rcnt_tl', 'mort_acc',
    'mths_since_recent_bc', 'mths_since_recent_bc_dlq', 'mths_since_recent_inq',
    'mths_since_recent_revol_delinq', 'num_accts_ever_120_pd', 'num_actv_bc_tl',
    'num_actv_rev_tl', 'num_bc_sats', 'num_bc_tl', 'num_il_tl', 'num_op_rev_tl',
    'num_rev_accts', 'num_rev_tl_bal_gt_0', 'num_sats', 'num_tl_120dpd_2m', 'num_tl_30dpd',
    'num_tl_90g_dpd_24m', 'num_tl_op_past_12m', 'pct_tl_nvr_dlq', 'percent_bc_gt_75',
    'pub_rec_bankruptcies', 'tax_liens', 'tot_hi_cred_lim', 'total_bal_ex_mort',
    'total_bc_limit', 'total_il_high_credit_limit', 'revol_bal_joint', 'sec_app_fico_range_low',
    'sec_app_fico_range_high', 'sec_app_earliest_cr_line', 'sec_app_inq_last_6mths',
    'sec_app_mort_acc', 'sec_app_open_acc', 'sec_app_revol_util', 'sec_app_open_act_il',
    'sec_app_num_rev_accts', 'sec_app_chargeoff_within_12_mths',
    'sec_app_collections_12_mths_ex_med', 'sec_app_mths_since_last_major_derog',
    'hardship_flag', 'hardship_type', 'hardship_reason', 'hardship_status', 'deferral_term',
    'hardship_amount', 'hardship_start_date', 'hardship_end_date', 'payment_plan_start_date',
    'hardship_length', 'hardship_dpd', 'hardship_loan_status',
    'orig_projected_additional_accrued_interest', 'hardship_payoff_balance_amount',
    'hardship_last_payment_amount', 'disbursement_method', 'debt_settlement_flag',
    'debt_settlement_flag_date', 'settlement_status', 'settlement_date', 'settlement_amount',
    'settlement_percentage', 'settlement_term',
)

# Sub-grade mix and the most common rates per sub-grade in the real sample.
_SUB_GRADE_WEIGHTS: dict[str, int] = {'A1': 61, 'A2': 72, 'A3': 81, 'A4': 90, 'A5': 112, 'B1': 101, 'B2': 105, 'B3': 108, 'B4': 120, 'B5': 115, 'C1': 130, 'C2': 112, 'C3': 102, 'C4': 138, 'C5': 101, 'D1': 70, 'D2': 64, 'D3': 53, 'D4': 51, 'D5': 38, 'E1': 37, 'E2': 23, 'E3': 15, 'E4': 19, 'E5': 23, 'F1': 9, 'F2': 7, 'F3': 8, 'F4': 6, 'F5': 11, 'G1': 7, 'G2': 3, 'G3': 4, 'G4': 2, 'G5': 2}
_SUB_GRADE_RATES: dict[str, tuple[float, ...]] = {'A1': (5.32, 5.31, 6.03, 6.11, 5.93), 'A2': (6.62, 6.99, 7.07, 6.67, 6.49), 'A3': (7.21, 6.72, 6.89, 7.24, 7.62), 'A4': (7.9, 7.84, 7.35, 7.49, 8.19), 'A5': (7.89, 7.97, 8.46, 7.99, 8.9), 'B1': (9.44, 8.18, 8.24, 8.39, 9.43), 'B2': (9.17, 9.93, 9.16, 9.49, 10.47), 'B3': (10.42, 9.99, 11.39, 11.99, 11.06), 'B4': (10.99, 11.44, 10.75, 10.91, 11.67), 'B5': (11.99, 11.49, 11.53, 11.47, 12.49), 'C1': (12.62, 12.29, 11.99, 12.74, 12.79), 'C2': (13.49, 12.99, 13.59, 14.47, 12.69), 'C3': (13.99, 14.08, 13.67, 15.02, 13.33), 'C4': (15.05, 13.99, 14.99, 14.49, 16.14), 'C5': (16.02, 15.99, 14.65, 14.99, 15.59), 'D1': (16.99, 15.61, 17.97, 15.41, 17.47), 'D2': (18.94, 17.57, 18.06, 16.55, 17.99), 'D3': (16.99, 18.99, 18.25, 19.92, 19.03), 'D4': (17.57, 20.89, 20.0, 19.99, 20.39), 'D5': (21.45, 17.86, 18.24, 21.85, 21.49), 'E1': (18.99, 22.74, 23.4, 18.25, 19.99), 'E2': (18.55, 19.24, 20.75, 23.99, 23.88), 'E3': (19.19, 21.18, 24.85, 24.74, 19.52), 'E4': (25.49, 21.97, 21.98, 24.99, 20.99), 'E5': (26.3, 26.77, 22.45, 27.27, 21.99), 'F1': (28.72, 22.45, 22.99, 22.95, 25.69), 'F2': (22.99, 23.28, 23.99, 23.13, 29.49), 'F3': (24.5, 26.99, 29.99), 'F4': (24.99, 30.65, 30.49, 25.09), 'F5': (25.78, 26.57, 30.75, 30.74, 23.83), 'G1': (26.77, 30.79, 27.34, 22.74, 24.7), 'G2': (24.83, 20.53, 20.03), 'G3': (28.34, 27.88, 25.89), 'G4': (30.94, 25.99), 'G5': (30.99, 26.06)}

# The other columns, summarised from the real sample: column -> (blank family, blank rate,
# kind, (decimals, quantiles at _QUANTILES) for numbers | (values, counts) for categories).
_PROFILE: dict[str, tuple] = {
    'mths_since_last_delinq': ('bureau', 0.51, 'num', (0, [0.0, 1.0, 5.0, 8.0, 15.0, 32.0, 53.0, 68.0, 74.1, 80.0, 110.0])),
    'mths_since_last_record': ('bureau', 0.845, 'num', (0, [0.0, 0.7, 23.0, 35.0, 50.0, 72.0, 92.0, 107.0, 111.0, 116.8, 118.0])),
    'revol_bal': ('bureau', 0.0, 'num', (0, [0.0, 334.85, 1749.3, 2972.9, 6093.5, 11444.0, 20370.5, 33418.5, 44952.0, 88401.9, 282704.0])),
    'total_pymnt': ('bureau', 0.0, 'num', (2, [0.0, 580.15, 1323.35, 2146.5, 4604.91, 9289.01, 16986.29, 25878.62, 32217.04, 41953.07, 56190.23])),
    'total_pymnt_inv': ('bureau', 0.0, 'num', (2, [0.0, 576.67, 1315.03, 2140.2, 4543.07, 9261.17, 16977.21, 25837.01, 32217.04, 41953.06, 56190.23])),
    'total_rec_prncp': ('bureau', 0.0, 'num', (2, [0.0, 275.23, 820.57, 1290.17, 3000.0, 7055.01, 13995.98, 20400.0, 25895.96, 35000.0, 40000.0])),
    'total_rec_int': ('bureau', 0.0, 'num', (2, [0.0, 60.21, 180.2, 328.02, 759.64, 1534.87, 2936.8, 5433.86, 7617.12, 12487.69, 21190.23])),
    'total_rec_late_fee': ('bureau', 0.0, 'num', (2, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 43.53, 316.5])),
    'recoveries': ('bureau', 0.0, 'num', (2, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1044.58, 3433.61, 20662.52])),
    'collection_recovery_fee': ('bureau', 0.0, 'num', (2, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 174.12, 597.03, 3719.25])),
    'last_pymnt_d': ('bureau', 0.001, 'cat', (('Mar-2019', 'Feb-2019', 'Aug-2018', 'May-2018', 'Jan-2019', 'Mar-2017', 'Oct-2018', 'Sep-2017', 'Apr-2018', 'Oct-2017', 'Mar-2018', 'Jul-2018', 'Jan-2017', 'Aug-2017', 'Sep-2018', 'Dec-2018', 'Jun-2017', 'Nov-2017', 'Nov-2018', 'Jul-2017', 'Oct-2016', 'Feb-2016', 'Feb-2018', 'Apr-2017'), (718, 86, 43, 34, 34, 33, 33, 32, 32, 32, 30, 30, 30, 29, 28, 28, 27, 27, 27, 27, 27, 26, 26, 26))),
    'last_pymnt_amnt': ('bureau', 0.0, 'num', (2, [0.0, 5.71, 98.71, 165.95, 308.73, 595.41, 3694.04, 11246.82, 16963.31, 27973.58, 39808.75])),
    'next_pymnt_d': ('bureau', 0.607, 'cat', (('Apr-2019', 'Oct-2012', 'Feb-2010', 'Jan-2011', 'Mar-2012', 'Aug-2015', 'Jul-2012', 'Apr-2012', 'Dec-2010'), (777, 1, 1, 1, 1, 1, 1, 1, 1))),
    'last_credit_pull_d': ('bureau', 0.0, 'cat', (('Mar-2019', 'Feb-2019', 'Jan-2019', 'Oct-2016', 'Oct-2018', 'Jul-2018', 'Dec-2018', 'Nov-2018', 'Sep-2018', 'Aug-2018', 'Feb-2017', 'May-2018', 'Sep-2017', 'Mar-2018', 'Dec-2017', 'Jan-2018', 'Oct-2017', 'Apr-2018', 'Aug-2017', 'Nov-2017', 'Feb-2018', 'Jul-2017', 'Jun-2017', 'May-2017'), (1204, 68, 53, 51, 50, 43, 35, 34, 32, 31, 28, 26, 24, 22, 21, 20, 19, 19, 18, 17, 16, 13, 13, 12))),
    'last_fico_range_high': ('bureau', 0.0, 'num', (0, [0.0, 499.0, 534.0, 574.0, 654.0, 699.0, 734.0, 774.0, 794.0, 819.0, 844.0])),
    'last_fico_range_low': ('bureau', 0.0, 'num', (0, [0.0, 0.0, 530.0, 570.0, 650.0, 695.0, 730.0, 770.0, 790.0, 815.0, 840.0])),
    'collections_12_mths_ex_med': ('bureau', 0.0, 'cat', (('0.0', '1.0'), (1974, 26))),
    'mths_since_last_major_derog': ('bureau', 0.756, 'num', (0, [0.0, 4.87, 9.35, 15.0, 28.0, 46.0, 62.25, 73.0, 76.0, 80.13, 110.0])),
    'annual_inc_joint': ('joint', 0.945, 'num', (1, [38000.0, 47440.0, 52390.0, 61000.0, 80493.0, 110000.0, 144250.0, 180000.0, 219000.0, 307800.0, 714000.0])),
    'dti_joint': ('joint', 0.945, 'num', (2, [2.7, 2.77, 5.25, 9.06, 12.96, 19.23, 23.36, 29.63, 32.1, 34.28, 36.67])),
    'verification_status_joint': ('joint', 0.947, 'cat', (('Not Verified', 'Source Verified', 'Verified'), (58, 29, 20))),
    'acc_now_delinq': ('bureau', 0.0, 'cat', (('0.0', '1.0', '2.0'), (1989, 9, 2))),
    'tot_coll_amt': ('bureau', 0.04, 'num', (0, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 132.1, 603.3, 2722.09, 45737.0])),
    'tot_cur_bal': ('bureau', 0.04, 'num', (0, [0.0, 3198.08, 9278.55, 14930.9, 29424.25, 76720.0, 214146.5, 332213.3, 423445.85, 663191.3, 2374991.0])),
    'open_acc_6m': ('bureau', 0.393, 'cat', (('0.0', '1.0', '2.0', '3.0', '4.0', '5.0', '6.0', '11.0', '7.0'), (536, 417, 145, 74, 26, 8, 6, 1, 1))),
    'open_act_il': ('bureau', 0.393, 'num', (0, [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 6.0, 9.0, 16.0, 29.0])),
    'open_il_12m': ('bureau', 0.393, 'cat', (('0.0', '1.0', '2.0', '3.0', '4.0', '5.0', '6.0'), (666, 352, 133, 45, 12, 5, 1))),
    'open_il_24m': ('bureau', 0.393, 'cat', (('1.0', '0.0', '2.0', '3.0', '4.0', '5.0', '6.0', '7.0', '8.0', '10.0', '11.0'), (397, 319, 234, 131, 57, 40, 20, 7, 6, 2, 1))),
    'mths_since_rcnt_il': ('bureau', 0.407, 'num', (0, [0.0, 1.0, 2.0, 3.0, 7.0, 13.0, 24.0, 45.0, 66.0, 121.32, 226.0])),
    'total_bal_il': ('bureau', 0.393, 'num', (0, [0.0, 0.0, 0.0, 0.0, 10052.75, 24285.0, 49016.5, 86396.8, 118947.75, 215704.64, 366662.0])),
    'il_util': ('bureau', 0.475, 'num', (0, [0.0, 4.0, 23.0, 36.0, 55.0, 71.0, 86.0, 96.0, 101.0, 121.51, 203.0])),
    'open_rv_12m': ('bureau', 0.393, 'cat', (('0.0', '1.0', '2.0', '3.0', '4.0', '5.0', '6.0', '7.0', '8.0', '9.0', '11.0'), (431, 383, 225, 92, 38, 25, 9, 6, 2, 2, 1))),
    'open_rv_24m': ('bureau', 0.393, 'num', (0, [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 6.0, 7.35, 11.0, 22.0])),
    'max_bal_bc': ('bureau', 0.393, 'num', (0, [0.0, 0.0, 452.5, 999.2, 2305.75, 4433.0, 7852.25, 13030.7, 17007.3, 24359.59, 50340.0])),
    'all_util': ('bureau', 0.393, 'num', (0, [0.0, 10.13, 21.0, 29.3, 43.0, 58.0, 71.0, 83.0, 90.0, 100.0, 160.0])),
    'total_rev_hi_lim': ('bureau', 0.04, 'num', (0, [300.0, 2800.0, 5995.0, 8300.0, 14700.0, 25650.0, 44192.5, 69700.0, 96310.0, 160350.58, 394800.0])),
    'inq_fi': ('bureau', 0.393, 'cat', (('0.0', '1.0', '2.0', '3.0', '4.0', '5.0', '6.0', '7.0', '8.0'), (584, 315, 162, 75, 36, 22, 11, 8, 1))),
    'total_cu_tl': ('bureau', 0.393, 'num', (0, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 5.0, 7.0, 11.87, 21.0])),
    'inq_last_12m': ('bureau', 0.393, 'num', (0, [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 5.0, 7.0, 10.0, 19.0])),
    'acc_open_past_24mths': ('bureau', 0.028, 'num', (0, [0.0, 0.0, 1.0, 1.0, 2.0, 4.0, 6.0, 9.0, 10.0, 14.0, 30.0])),
    'avg_cur_bal': ('bureau', 0.04, 'num', (0, [0.0, 471.99, 1170.0, 1720.8, 3210.25, 7199.5, 18322.75, 31780.7, 41264.9, 65805.49, 237499.0])),
    'bc_open_to_buy': ('bureau', 0.039, 'num', (0, [0.0, 0.2, 170.0, 411.0, 1659.0, 5418.0, 15106.0, 31731.0, 45204.0, 85921.4, 198619.0])),
    'bc_util': ('bureau', 0.039, 'num', (1, [0.0, 0.24, 7.7, 16.7, 34.9, 59.8, 83.0, 94.6, 97.7, 100.08, 128.9])),
    'chargeoff_within_12_mths': ('bureau', 0.0, 'cat', (('0.0', '1.0', '3.0'), (1984, 15, 1))),
    'delinq_amnt': ('bureau', 0.0, 'cat', (('0.0', '25.0', '17.0', '58.0', '22953.0', '213.0', '78.0', '61.0', '534.0'), (1991, 2, 1, 1, 1, 1, 1, 1, 1))),
    'mo_sin_old_il_acct': ('bureau', 0.062, 'num', (0, [2.0, 8.74, 29.0, 50.0, 97.0, 129.0, 153.0, 181.0, 218.0, 288.26, 466.0])),
    'mo_sin_old_rev_tl_op': ('bureau', 0.04, 'num', (0, [8.0, 25.19, 44.0, 65.9, 114.0, 162.0, 226.0, 304.0, 356.25, 467.0, 680.0])),
    'mo_sin_rcnt_rev_tl_op': ('bureau', 0.04, 'num', (0, [0.0, 0.0, 1.0, 2.0, 4.0, 9.0, 17.0, 31.0, 45.0, 89.62, 128.0])),
    'mo_sin_rcnt_tl': ('bureau', 0.04, 'num', (0, [0.0, 0.0, 1.0, 1.0, 3.0, 6.0, 10.0, 17.0, 23.0, 38.0, 115.0])),
    'mort_acc': ('bureau', 0.028, 'cat', (('0.0', '1.0', '2.0', '3.0', '4.0', '5.0', '6.0', '7.0', '8.0', '9.0', '10.0', '13.0'), (829, 340, 269, 197, 149, 73, 46, 22, 10, 4, 3, 1))),
    'mths_since_recent_bc': ('bureau', 0.038, 'num', (0, [0.0, 1.0, 2.0, 3.0, 6.0, 14.0, 27.5, 57.0, 87.9, 156.34, 327.0])),
    'mths_since_recent_bc_dlq': ('bureau', 0.782, 'num', (0, [0.0, 1.0, 5.0, 9.0, 19.0, 36.0, 59.0, 73.0, 78.0, 82.0, 125.0])),
    'mths_since_recent_inq': ('bureau', 0.12, 'num', (0, [0.0, 0.0, 0.0, 1.0, 2.0, 6.0, 11.0, 16.0, 19.0, 23.0, 24.0])),
    'mths_since_recent_revol_delinq': ('bureau', 0.685, 'num', (0, [0.0, 1.29, 5.0, 8.0, 15.0, 31.0, 52.0, 70.0, 75.0, 81.0, 125.0])),
    'num_accts_ever_120_pd': ('bureau', 0.04, 'num', (0, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.0, 6.0, 12.0])),
    'num_actv_bc_tl': ('bureau', 0.04, 'num', (0, [0.0, 0.0, 1.0, 1.0, 2.0, 3.0, 5.0, 6.0, 8.0, 10.0, 17.0])),
    'num_actv_rev_tl': ('bureau', 0.04, 'num', (0, [0.0, 1.0, 2.0, 2.0, 3.0, 5.0, 7.0, 10.0, 11.0, 16.0, 23.0])),
    'num_bc_sats': ('bureau', 0.032, 'num', (0, [0.0, 0.34, 1.0, 2.0, 3.0, 4.0, 6.0, 9.0, 10.0, 15.66, 20.0])),
    'num_bc_tl': ('bureau', 0.04, 'num', (0, [0.0, 1.0, 2.0, 3.0, 4.0, 7.0, 10.0, 13.0, 16.0, 23.0, 41.0])),
    'num_il_tl': ('bureau', 0.04, 'num', (0, [0.0, 0.0, 1.0, 2.0, 3.0, 6.0, 11.0, 18.0, 22.0, 34.0, 71.0])),
    'num_op_rev_tl': ('bureau', 0.04, 'num', (0, [1.0, 1.0, 3.0, 3.0, 5.0, 7.0, 10.0, 14.0, 17.0, 23.81, 38.0])),
    'num_rev_accts': ('bureau', 0.04, 'num', (0, [1.0, 2.19, 4.0, 5.0, 8.0, 12.0, 18.0, 25.0, 29.0, 39.81, 56.0])),
    'num_rev_tl_bal_gt_0': ('bureau', 0.04, 'num', (0, [0.0, 1.0, 2.0, 2.0, 3.0, 5.0, 7.0, 10.0, 11.0, 16.0, 23.0])),
    'num_sats': ('bureau', 0.032, 'num', (0, [1.0, 3.0, 4.0, 5.0, 8.0, 11.0, 15.0, 19.0, 22.0, 30.0, 60.0])),
    'num_tl_120dpd_2m': ('bureau', 0.077, 'cat', (('0.0', '1.0'), (1844, 2))),
    'num_tl_30dpd': ('bureau', 0.04, 'cat', (('0.0', '1.0', '2.0'), (1912, 6, 2))),
    'num_tl_90g_dpd_24m': ('bureau', 0.04, 'cat', (('0.0', '1.0', '2.0', '3.0', '4.0', '7.0'), (1840, 60, 13, 3, 3, 1))),
    'num_tl_op_past_12m': ('bureau', 0.04, 'num', (0, [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 16.0])),
    'pct_tl_nvr_dlq': ('bureau', 0.04, 'num', (1, [28.6, 61.58, 76.0, 82.78, 92.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0])),
    'percent_bc_gt_75': ('bureau', 0.039, 'num', (1, [0.0, 0.0, 0.0, 0.0, 0.0, 33.3, 75.0, 100.0, 100.0, 100.0, 100.0])),
    'pub_rec_bankruptcies': ('bureau', 0.001, 'cat', (('0.0', '1.0', '2.0', '3.0'), (1765, 220, 10, 2))),
    'tax_liens': ('bureau', 0.0, 'cat', (('0.0', '1.0', '2.0', '3.0', '7.0', '4.0', '5.0', '6.0'), (1947, 34, 7, 5, 2, 2, 2, 1))),
    'tot_hi_cred_lim': ('bureau', 0.04, 'num', (0, [1500.0, 8419.0, 18694.0, 28695.6, 51987.0, 113421.5, 259325.0, 401143.9, 492529.7, 740656.4, 2478555.0])),
    'total_bal_ex_mort': ('bureau', 0.028, 'num', (0, [0.0, 2575.06, 7187.1, 11618.6, 21438.0, 38828.0, 65925.0, 104061.4, 138596.0, 235796.1, 456554.0])),
    'total_bc_limit': ('bureau', 0.028, 'num', (0, [0.0, 0.0, 2100.0, 3720.0, 8000.0, 16000.0, 32650.0, 50540.0, 70950.0, 111670.0, 203200.0])),
    'total_il_high_credit_limit': ('bureau', 0.04, 'num', (0, [0.0, 0.0, 0.0, 0.0, 16297.25, 34124.0, 62438.75, 98131.4, 122911.5, 215371.59, 389987.0])),
    'revol_bal_joint': ('joint', 0.948, 'num', (0, [0.0, 577.98, 6598.35, 8520.7, 13931.5, 22795.0, 39113.0, 61140.6, 78603.2, 105922.86, 169674.0])),
    'sec_app_fico_range_low': ('joint', 0.948, 'num', (0, [550.0, 565.45, 595.0, 610.0, 643.75, 675.0, 700.0, 730.0, 739.25, 759.55, 785.0])),
    'sec_app_fico_range_high': ('joint', 0.948, 'num', (0, [554.0, 569.45, 599.0, 614.0, 647.75, 679.0, 704.0, 734.0, 743.25, 763.55, 789.0])),
    'sec_app_earliest_cr_line': ('joint', 0.948, 'cat', (('Oct-2004', 'Jul-2016', 'Aug-2006', 'Mar-2006', 'May-2012', 'Jul-2007', 'Sep-1999', 'Aug-2005', 'Jun-2003', 'Aug-2007', 'Apr-1998', 'Mar-2014', 'May-2008', 'Aug-2011', 'Dec-1988', 'Mar-2010', 'Oct-2005', 'Apr-1996', 'Apr-2000', 'Sep-1997', 'Jun-2017', 'Oct-2002', 'Dec-1997', 'Oct-2007'), (4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1))),
    'sec_app_inq_last_6mths': ('joint', 0.948, 'cat', (('0.0', '1.0', '2.0', '4.0', '6.0'), (58, 30, 11, 3, 2))),
    'sec_app_mort_acc': ('joint', 0.948, 'cat', (('0.0', '1.0', '2.0', '3.0', '5.0', '4.0', '6.0', '10.0'), (40, 27, 14, 14, 3, 3, 2, 1))),
    'sec_app_open_acc': ('joint', 0.948, 'num', (0, [1.0, 2.0, 3.15, 4.0, 7.0, 10.0, 15.0, 19.0, 22.85, 25.0, 29.0])),
    'sec_app_revol_util': ('joint', 0.948, 'num', (1, [0.0, 0.0, 9.53, 19.19, 36.02, 52.5, 72.6, 87.88, 95.57, 97.99, 101.6])),
    'sec_app_open_act_il': ('joint', 0.948, 'num', (0, [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 13.94, 15.0])),
    'sec_app_num_rev_accts': ('joint', 0.948, 'num', (0, [1.0, 1.0, 3.0, 4.0, 7.0, 10.0, 16.0, 19.7, 24.85, 31.94, 38.0])),
    'sec_app_chargeoff_within_12_mths': ('joint', 0.948, 'cat', (('0.0', '1.0', '2.0'), (102, 1, 1))),
    'sec_app_collections_12_mths_ex_med': ('joint', 0.948, 'cat', (('0.0', '1.0', '3.0'), (96, 7, 1))),
    'sec_app_mths_since_last_major_derog': ('joint', 0.981, 'num', (0, [0.0, 0.0, 1.8, 2.8, 13.5, 28.0, 52.5, 69.2, 71.3, 76.48, 78.0])),
    'hardship_type': ('hardship', 0.998, 'cat', (('INTEREST ONLY-3 MONTHS DEFERRAL',), (5,))),
    'hardship_reason': ('hardship', 0.998, 'cat', (('MEDICAL', 'INCOME_CURTAILMENT', 'NATURAL_DISASTER', 'UNEMPLOYMENT'), (2, 1, 1, 1))),
    'hardship_status': ('hardship', 0.998, 'cat', (('COMPLETED', 'ACTIVE'), (4, 1))),
    'deferral_term': ('hardship', 0.998, 'cat', (('3.0',), (5,))),
    'hardship_amount': ('hardship', 0.998, 'cat', (('305.87', '86.59', '30.94', '48.85', '226.49'), (1, 1, 1, 1, 1))),
    'hardship_start_date': ('hardship', 0.998, 'cat', (('Oct-2018', 'Feb-2019', 'Sep-2017', 'Aug-2018', 'Jun-2018'), (1, 1, 1, 1, 1))),
    'hardship_end_date': ('hardship', 0.998, 'cat', (('Dec-2018', 'Apr-2019', 'Dec-2017', 'Nov-2018', 'Sep-2018'), (1, 1, 1, 1, 1))),
    'payment_plan_start_date': ('hardship', 0.998, 'cat', (('Oct-2018', 'Feb-2019', 'Oct-2017', 'Sep-2018', 'Jun-2018'), (1, 1, 1, 1, 1))),
    'hardship_length': ('hardship', 0.998, 'cat', (('3.0',), (5,))),
    'hardship_dpd': ('hardship', 0.998, 'cat', (('15.0', '9.0', '0.0', '11.0', '16.0'), (1, 1, 1, 1, 1))),
    'hardship_loan_status': ('hardship', 0.998, 'cat', (('In Grace Period', 'Current', 'Late (16-30 days)'), (3, 1, 1))),
    'orig_projected_additional_accrued_interest': ('hardship', 0.998, 'cat', (('917.61', '259.77', '92.82', '146.55', '679.47'), (1, 1, 1, 1, 1))),
    'hardship_payoff_balance_amount': ('hardship', 0.998, 'cat', (('20789.51', '9639.69', '2768.43', '5213.02', '13943.28'), (1, 1, 1, 1, 1))),
    'hardship_last_payment_amount': ('hardship', 0.998, 'cat', (('510.08', '108.43', '108.47', '57.33', '434.57'), (1, 1, 1, 1, 1))),
    'debt_settlement_flag_date': ('settlement', 0.988, 'cat', (('Oct-2018', 'Dec-2018', 'Apr-2018', 'Oct-2015', 'Aug-2018', 'Jun-2017', 'Mar-2018', 'Jul-2018', 'Aug-2013', 'Sep-2017', 'Feb-2017', 'Feb-2019', 'Nov-2016', 'Sep-2018', 'Dec-2017', 'Nov-2018', 'Aug-2017'), (4, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1))),
    'settlement_status': ('settlement', 0.988, 'cat', (('ACTIVE', 'COMPLETE', 'BROKEN'), (11, 9, 4))),
    'settlement_date': ('settlement', 0.988, 'cat', (('Dec-2017', 'Jun-2017', 'Dec-2018', 'Nov-2018', 'Apr-2018', 'Oct-2018', 'Dec-2014', 'Aug-2017', 'May-2017', 'Feb-2018', 'Jul-2018', 'Jul-2013', 'May-2018', 'Sep-2018', 'Jan-2017', 'Feb-2019', 'Nov-2016', 'Mar-2018', 'Jul-2016'), (2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1))),
    'settlement_amount': ('settlement', 0.988, 'num', (2, [495.0, 672.55, 1268.31, 1289.8, 2130.86, 3881.98, 6162.25, 13174.67, 16575.5, 20205.14, 21162.52])),
    'settlement_percentage': ('settlement', 0.988, 'cat', (('45.0', '50.0', '40.0', '55.0', '35.1', '66.91', '45.01', '62.08', '44.96', '65.0', '50.01', '50.06'), (9, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1))),
    'settlement_term': ('settlement', 0.988, 'cat', (('24.0', '12.0', '0.0', '8.0', '18.0', '1.0', '10.0', '65.0', '6.0', '17.0', '16.0'), (5, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1))),
}
# fmt: on

_QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
_GRADES = "ABCDEFG"
_SUB_GRADES = tuple(f"{g}{i}" for g in _GRADES for i in range(1, 6))
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_POLICY = "Does not meet the credit policy. Status:"

_PURPOSE_TITLES = {
    "debt_consolidation": ("Debt consolidation", 1144),
    "credit_card": ("Credit card refinancing", 432),
    "home_improvement": ("Home improvement", 145),
    "other": ("Other", 115),
    "major_purchase": ("Major purchase", 42),
    "medical": ("Medical expenses", 25),
    "car": ("Car financing", 23),
    "small_business": ("Business", 21),
    "vacation": ("Vacation", 18),
    "moving": ("Moving and relocation", 17),
    "house": ("Home buying", 11),
    "wedding": ("Wedding", 4),
    "renewable_energy": ("Green loan", 2),
    "educational": ("Educational", 1),
}
_STATES = {
    "CA": 281, "TX": 173, "NY": 169, "FL": 155, "IL": 75, "GA": 66, "OH": 64, "MA": 62,
    "PA": 60, "NC": 56, "AZ": 55, "NJ": 50, "MI": 50, "VA": 46, "MD": 44, "IN": 44, "MN": 42,
    "CO": 39, "WA": 37, "WI": 29, "MO": 29, "CT": 28, "AL": 27, "LA": 27, "TN": 26, "OK": 26,
    "SC": 24, "KY": 21, "KS": 20, "NV": 20, "OR": 18, "MS": 15, "AR": 14, "UT": 14, "RI": 12,
    "HI": 10, "NM": 9, "ME": 6, "SD": 6, "DE": 6, "WV": 6, "DC": 6, "ID": 5, "WY": 5, "AK": 5,
    "MT": 4, "NH": 4, "NE": 4, "VT": 3, "ND": 3,
}  # fmt: skip
_EMP_LENGTH = {
    "10+ years": 636, "2 years": 186, "< 1 year": 167, "": 146, "1 year": 140, "3 years": 139,
    "4 years": 136, "5 years": 126, "6 years": 94, "9 years": 79, "7 years": 78, "8 years": 73,
}  # fmt: skip
_HOME = {"MORTGAGE": 4980, "RENT": 3980, "OWN": 1030, "ANY": 6, "NONE": 2, "OTHER": 2}
_VERIFICATION = {"Source Verified": 762, "Not Verified": 661, "Verified": 577}
_ISSUE_YEARS = {
    2007: 1, 2008: 4, 2009: 6, 2010: 19, 2011: 23, 2012: 44, 2013: 109, 2014: 224, 2015: 372,
    2016: 389, 2017: 381, 2018: 428,
}  # fmt: skip
_EMP_TITLES = (
    "Teacher",
    "Manager",
    "Registered Nurse",
    "Owner",
    "Driver",
    "Supervisor",
    "RN",
    "Sales",
    "Project Manager",
    "Office Manager",
    "General Manager",
    "Director",
    "Engineer",
    "Truck Driver",
    "Operations Manager",
    "Police Officer",
    "Nurse",
    "Sales Manager",
    "Accountant",
    "Mechanic",
    "Administrative Assistant",
    "Software Engineer",
    "Technician",
    "Store Manager",
    "Customer Service",
    "Account Manager",
    "Electrician",
    "Analyst",
    "President",
    "Vice President",
    "Attorney",
    "Pharmacist",
    "Machine Operator",
    "Cashier",
    "Server",
    "Paralegal",
    "Consultant",
    "Firefighter",
    "Welder",
    "Bus Driver",
    "MEDICAL ASSISTANT",
    "Director Of Operations",
    "Social Worker",
    "teacher",
    "manager",
    "Program Manager",
    "Branch Manager",
    "Maintenance",
    "US Army",
    "Warehouse Associate",
)
_EMP_TITLES_WITH_COMMAS = (
    "Manager, Operations",
    "Teacher, K-12",
    "Director, Finance",
    "Sales Associate, Retail",
    "Nurse, ICU",
    "Supervisor, Production",
    "VP, Marketing",
)
_DESCRIPTIONS = (
    "  Borrower added on 04/15/13 > I want to consolidate my credit cards into one payment.<br>",
    "Paying off high-interest credit cards, a car loan and some medical bills.",
    "  Borrower added on 11/02/12 > Home repairs: new roof, windows and gutters.<br>",
    "I have a stable job and have never missed a payment. Thank you for considering my loan.",
)


_TABLE_SIZE = 200_000
_FIRST_YEAR = 1900


def _csv_cell(text: str) -> str:
    """``text`` quoted as the csv module would (QUOTE_MINIMAL), so rows can be joined fast."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _weights(table: dict) -> tuple[np.ndarray, np.ndarray]:
    keys = np.array([_csv_cell(str(k)) for k in table], dtype=object)
    probs = np.array(list(table.values()), dtype=float)
    return keys, probs / probs.sum()


@functools.cache
def _number_table(decimals: int) -> np.ndarray:
    """Text of ``i / 10**decimals`` for every code ``i`` below ``_TABLE_SIZE`` ("7.0", "18.1")."""
    scale = 10**decimals
    return np.array([repr(i / scale) for i in range(_TABLE_SIZE)], dtype=object)


@functools.cache
def _integer_table() -> np.ndarray:
    return np.array([str(i) for i in range(_TABLE_SIZE)], dtype=object)


@functools.cache
def _fraction_table(decimals: int) -> np.ndarray:
    """ ".0", ".01" .. ".99" for 2 decimals: the fraction part as ``repr`` writes it."""
    scale = 10**decimals
    return np.array([repr(i / scale)[1:] for i in range(max(scale, 1))], dtype=object)


@functools.cache
def _month_table() -> np.ndarray:
    """ "Jan-1900" .. "Dec-2199", indexed by months since January 1900."""
    return np.array(
        [f"{m}-{y}" for y in range(_FIRST_YEAR, _FIRST_YEAR + 300) for m in _MONTHS], dtype=object
    )


def _pick(rng: np.random.Generator, table: dict, n: int) -> np.ndarray:
    keys, probs = _weights(table)
    return keys[rng.choice(len(keys), n, p=probs)]


def _num_text(values: np.ndarray, decimals: int) -> np.ndarray:
    """Numbers as LendingClub writes them ("7.0", "18.1", "6714.54"), via lookup tables."""
    numbers = np.asarray(values, dtype=float)
    scale = 10**decimals
    codes = np.rint(numbers * scale).astype(np.int64)
    if codes.size == 0:
        return np.empty(0, dtype=object)
    if codes.min() >= 0 and codes.max() < _TABLE_SIZE:
        return _number_table(decimals)[codes]
    text = np.empty(len(codes), dtype=object)
    whole, fraction = np.divmod(codes, scale)
    small = (codes >= 0) & (whole < _TABLE_SIZE)
    text[small] = _integer_table()[whole[small]] + _fraction_table(decimals)[fraction[small]]
    if not small.all():
        big = ~small
        text[big] = np.round(numbers[big], decimals).astype(str).astype(object)
    return text


def _month_text(month_index: np.ndarray) -> np.ndarray:
    """Months since year 0 -> "Aug-1998"."""
    first, table = _FIRST_YEAR * 12, _month_table()
    return table[np.clip(month_index - first, 0, len(table) - 1)]


def _blank(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "", values).astype(object)


def _profile_column(
    rng: np.random.Generator, spec: tuple, n: int, family_u: dict[str, np.ndarray]
) -> np.ndarray:
    """One profiled column: blank at its real rate, else drawn from its quantiles/frequencies."""
    family, blank_rate, kind, params = spec
    if family == "bureau" and not (blank_rate <= 0.08 or 0.39 <= blank_rate <= 0.48):
        u = rng.random(n)  # independent of the other bureau columns
    else:
        u = family_u[family]  # shared: columns of one family are blank together
    present = u >= blank_rate
    m = int(present.sum())
    column = np.full(n, "", dtype=object)
    if kind == "num":
        decimals, quantiles = params
        column[present] = _num_text(np.interp(rng.random(m), _QUANTILES, quantiles), decimals)
    else:
        labels, counts = params
        column[present] = _pick(rng, dict(zip(labels, counts)), m)
    return column


def _emp_titles(rng: np.random.Generator, n: int) -> np.ndarray:
    titles = np.array(_EMP_TITLES, dtype=object)[rng.integers(0, len(_EMP_TITLES), n)]
    u = rng.random(n)
    commas = np.array([_csv_cell(t) for t in _EMP_TITLES_WITH_COMMAS], dtype=object)
    titles = np.where(u < 0.03, commas[rng.integers(0, len(commas), n)], titles)
    titles = np.where((u >= 0.03) & (u < 0.13), titles + " ", titles)  # trailing spaces
    titles = np.where((u >= 0.13) & (u < 0.15), titles + "  ", titles)
    return _blank(titles, rng.random(n) < 0.081)


def _last_fico(rng: np.random.Generator, fico_low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latest FICO range: drifts from the original; LendingClub writes 0/499 for no score."""
    n = len(fico_low)
    low = np.clip(5 * np.round((fico_low + rng.normal(0, 45, n)) / 5), 500, 845)
    none = rng.random(n) < 0.025
    high = np.where(none, 499.0, np.where(low >= 845, 850.0, low + 4))
    return _num_text(np.where(none, 0.0, low), 1), _num_text(high, 1)


def _chunk(rng: np.random.Generator, start: int, n: int) -> dict[str, Sequence[str]]:
    """``n`` rows as column -> list of CSV texts."""
    out: dict[str, Sequence[str]] = {}
    family_u = {f: rng.random(n) for f in ("bureau", "joint", "hardship", "settlement")}

    ids = 10_000_000 + (start + np.arange(n, dtype=np.int64)) * 97 + rng.integers(0, 97, n)
    id_text = ids.astype(str).astype(object)
    out["id"] = id_text
    out["member_id"] = [""] * n

    sg_keys, sg_probs = _weights(_SUB_GRADE_WEIGHTS)
    k = rng.choice(len(sg_keys), n, p=sg_probs)  # 0 = A1 .. 34 = G5
    risk = (k - 12) / 8.0
    rate_table = np.array([(list(r) + [r[0]] * 5)[:5] for r in _SUB_GRADE_RATES.values()])
    rate_counts = np.array([len(r) for r in _SUB_GRADE_RATES.values()])
    int_rate = rate_table[k, (rng.random(n) * rate_counts[k]).astype(int)]
    out["int_rate"] = _num_text(int_rate, 2)
    out["grade"] = np.array(list(_GRADES), dtype=object)[k // 5]
    out["sub_grade"] = sg_keys[k]

    amount = np.exp(rng.normal(np.log(12_000), 0.65, n))
    step = np.select([rng.random(n) < 0.7, rng.random(n) < 0.65], [1000, 500], 25)
    amount = np.clip(np.round(amount / step) * step, 1000, 40_000)
    out["loan_amnt"] = out["funded_amnt"] = _num_text(amount, 1)
    inv = amount - np.where(rng.random(n) < 0.0645, 25 * rng.integers(1, 40, n), 0)
    out["funded_amnt_inv"] = _num_text(np.maximum(inv, amount / 2), 1)

    term60 = rng.random(n) < 1 / (1 + np.exp(-(-1.6 + 1.4 * (amount > 20_000) + 0.5 * risk)))
    months = np.where(term60, 60, 36)
    out["term"] = np.where(term60, " 60 months", " 36 months").astype(object)
    r = int_rate / 1200
    out["installment"] = _num_text(amount * r / (1 - (1 + r) ** -months), 2)

    income = np.exp(rng.normal(np.log(66_000) - 0.08 * risk, 0.55, n))
    income *= np.where(rng.random(n) < 0.01, 3.0, 1.0)  # long right tail
    income = np.where(rng.random(n) < 0.75, np.round(income, -3), np.round(income))
    income = np.where(rng.random(n) < 0.001, 0.0, np.minimum(income, 9_500_000))
    out["annual_inc"] = _num_text(income, 1)

    dti = np.clip(rng.gamma(4.0, 4.4, n) + 2.0 * risk, 0, 60)
    dti = np.where(rng.random(n) < 0.002, 999.0, dti)
    out["dti"] = _blank(_num_text(dti, 2), rng.random(n) < 0.001)

    fico_low = np.clip(5 * np.round((697 - 14 * risk + rng.normal(0, 30, n)) / 5), 660, 845)
    out["fico_range_low"] = _num_text(fico_low, 1)
    out["fico_range_high"] = _num_text(np.where(fico_low >= 845, 850, fico_low + 4), 1)

    revol = np.clip(rng.normal(50 + 6 * risk, 24, n), 0, 99.9)
    revol = np.where(rng.random(n) < 0.004, rng.uniform(100, 130, n), revol)
    out["revol_util"] = _num_text(revol, 1)

    inq = rng.poisson(np.clip(0.6 + 0.2 * risk, 0.1, None))
    out["inq_last_6mths"] = _num_text(inq, 1)
    out["delinq_2yrs"] = _num_text(rng.poisson(0.32, n), 1)
    out["pub_rec"] = _num_text(rng.poisson(0.2, n), 1)
    open_acc = 1 + rng.poisson(10.5, n)
    out["open_acc"] = _num_text(open_acc, 1)
    out["total_acc"] = _num_text(open_acc + rng.poisson(12, n), 1)

    home = _pick(rng, _HOME, n)
    out["home_ownership"] = home
    purpose = _pick(rng, {p: w for p, (_, w) in _PURPOSE_TITLES.items()}, n)
    out["purpose"] = purpose
    title_of = {p: _csv_cell(t) for p, (t, _) in _PURPOSE_TITLES.items()}
    title = np.array([title_of[p] for p in purpose], dtype=object)
    out["title"] = _blank(title, rng.random(n) < 0.007)
    out["emp_title"] = _emp_titles(rng, n)
    out["emp_length"] = _pick(rng, _EMP_LENGTH, n)
    out["verification_status"] = _pick(rng, _VERIFICATION, n)
    out["addr_state"] = _pick(rng, _STATES, n)
    zips = np.array([f"{i:03d}xx" for i in range(1000)], dtype=object)
    out["zip_code"] = zips[rng.integers(10, 1000, n)]

    issue = _pick(rng, _ISSUE_YEARS, n).astype(int) * 12 + rng.integers(0, 12, n)
    out["issue_d"] = _month_text(issue)
    out["last_fico_range_low"], out["last_fico_range_high"] = _last_fico(rng, fico_low)
    joint = family_u["joint"] >= 0.945
    sec_low = np.clip(5 * np.round(rng.normal(690, 35, n) / 5), 540, 845)
    sec_missing = family_u["joint"] < 0.948
    out["sec_app_fico_range_low"] = _blank(_num_text(sec_low, 1), sec_missing)
    out["sec_app_fico_range_high"] = _blank(_num_text(sec_low + 4, 1), sec_missing)
    history = np.minimum(36 + rng.gamma(2.5, 70, n).astype(int), 70 * 12)
    out["earliest_cr_line"] = _month_text(issue - history)

    logit = (
        -1.75
        + 0.75 * risk
        + 0.5 * term60
        + 0.03 * (np.minimum(dti, 60) - 18)
        + 0.2 * np.minimum(inq, 4)
        + 0.25 * (home == "RENT")
        - 0.006 * (fico_low - 700)
        + 0.3 * np.isin(purpose, ("small_business", "medical", "wedding"))
    )
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    u = rng.random(n)
    status = np.select(
        [u < 0.373, u < 0.3835, u < 0.386, u < 0.389],
        ["Current", "Late (31-120 days)", "Late (16-30 days)", "In Grace Period"],
        np.where(bad, "Charged Off", "Fully Paid"),
    ).astype(object)
    finished = u >= 0.389
    status = np.where(finished & (rng.random(n) < 0.0065), _POLICY + status, status)
    out["loan_status"] = status
    outstanding = np.where(finished, 0.0, amount * rng.uniform(0.05, 0.95, n))
    out["out_prncp"] = out["out_prncp_inv"] = _num_text(outstanding, 2)

    out["pymnt_plan"] = np.where(rng.random(n) < 0.0005, "y", "n").astype(object)
    out["url"] = [f"https://lendingclub.com/browse/loanDetail.action?loan_id={i}" for i in id_text]
    descriptions = np.array([_csv_cell(d) for d in _DESCRIPTIONS], dtype=object)
    desc = descriptions[rng.integers(0, len(descriptions), n)]
    out["desc"] = _blank(desc, rng.random(n) < 0.937)
    out["initial_list_status"] = np.where(rng.random(n) < 0.689, "w", "f").astype(object)
    out["policy_code"] = ["1.0"] * n
    out["application_type"] = np.where(joint, "Joint App", "Individual").astype(object)
    out["hardship_flag"] = np.where(family_u["hardship"] >= 0.998, "Y", "N").astype(object)
    settled = family_u["settlement"] >= 0.988
    out["debt_settlement_flag"] = np.where(settled, "Y", "N").astype(object)
    direct = rng.random(n) < 0.036
    out["disbursement_method"] = np.where(direct, "DirectPay", "Cash").astype(object)

    for column, spec in _PROFILE.items():
        if column not in out:
            out[column] = _profile_column(rng, spec, n, family_u)
    return {c: v.tolist() if isinstance(v, np.ndarray) else v for c, v in out.items()}


def generate_sample(
    path: str | Path, rows: int, seed: int = 42, chunk_rows: int = CHUNK_ROWS
) -> Path:
    """Write ``rows`` synthetic LendingClub rows to ``path`` (atomically); deterministic per seed."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    rng = np.random.default_rng(seed)
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            handle.write(",".join(COLUMNS) + "\n")
            done = 0
            while done < rows:
                n = min(chunk_rows, rows - done)
                columns = _chunk(rng, done, n)
                # values are pre-quoted (_csv_cell), so a plain join is valid CSV
                handle.write("\n".join(map(",".join, zip(*(columns[c] for c in COLUMNS)))))
                handle.write("\n")
                done += n
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
