"""The Appendix D judge prompts, verbatim from the paper, with and without the instruction block.

See ``endorm.llm.judges.models`` for what the ``*_NO_INSTRUCTION`` variants drop and how the
prompts are rendered.
"""

JUDGE_SYSTEM = ("You are an AI evaluator. Your role is to assess AI-generated text for its quality and "
                "adherence to instructions.")

VERIFIER_TEMPLATE = """\
You need to determine if the ‘Response’ is a good response to the ‘Query’, based on the standards set by the ‘Instruction’. A ‘good’ response MUST satisfy the following conditions:
1. **Adherence to Instruction:** The answer’s tone, style, and content must perfectly match the provided instruction.
2. **Relevance to Query:** The answer must directly and comprehensively address the user’s query without any irrelevant information.
3. **Factuality and Helpfulness:** The information in the answer should be accurate and useful.
Please carefully review the following materials.
### Instruction
{instruction}
### Query
{query}
### Response
{response}
Based on your evaluation, is the answer a good response? Answer with only “YES” or “NO”."""

VERIFIER_TEMPLATE_NO_INSTRUCTION = """\
You need to determine if the ‘Response’ is a good response to the ‘Query’. A ‘good’ response MUST satisfy the following conditions:
1. **Relevance to Query:** The answer must directly and comprehensively address the user’s query without any irrelevant information.
2. **Factuality and Helpfulness:** The information in the answer should be accurate and useful.
Please carefully review the following materials.
### Query
{query}
### Response
{response}
Based on your evaluation, is the answer a good response? Answer with only “YES” or “NO”."""

PAIRWISE_TEMPLATE = """\
You are asked to evaluate two answers, ‘Response 1’ and ‘Response 2’, in relation to a ‘Query’ and a ‘Instruction’.
**Evaluation Criteria:**
1. **Adherence to Instruction:** Does the answer’s tone, style, and content align with the specified instruction?
2. **Relevance to Query:** Does the answer directly and comprehensively address the user’s query?
3. **Factuality and Helpfulness:** Is the information accurate and useful?
Based on these criteria, please review the following:
### Instruction
{instruction}
### Query
{query}
### Response 1
{response1}
### Response 2
{response2}
**Your Task:**
Is ‘Response 2’ better than ‘Response 1’?
**Rules for Your Response:**
1. Respond with only “YES” or “NO”. Do not include explanations or any other text.
2. “YES” means ‘Response 2’ is clearly better than ‘Response 1’.
3. “NO” means ‘Response 2’ is not better (it is either worse or of equal quality) than ‘Response 1’."""

PAIRWISE_TEMPLATE_NO_INSTRUCTION = """\
You are asked to evaluate two answers, ‘Response 1’ and ‘Response 2’, in relation to a ‘Query’.
**Evaluation Criteria:**
1. **Relevance to Query:** Does the answer directly and comprehensively address the user’s query?
2. **Factuality and Helpfulness:** Is the information accurate and useful?
Based on these criteria, please review the following:
### Query
{query}
### Response 1
{response1}
### Response 2
{response2}
**Your Task:**
Is ‘Response 2’ better than ‘Response 1’?
**Rules for Your Response:**
1. Respond with only “YES” or “NO”. Do not include explanations or any other text.
2. “YES” means ‘Response 2’ is clearly better than ‘Response 1’.
3. “NO” means ‘Response 2’ is not better (it is either worse or of equal quality) than ‘Response 1’."""

_SCORING_GUIDE = """\
Based on your assessment, provide a single integer score from 1 to 10.
**Scoring Guide:**
- **1-2:** Very Poor. Fails on most criteria.
- **3-4:** Poor. Significant issues in multiple areas.
- **5-6:** Average. Meets basic requirements but has clear flaws.
- **7-8:** Good. Solid response with minor issues.
- **9-10:** Excellent. A nearly perfect response that excels in all criteria.
Provide only the numeric score."""

POINTWISE_TEMPLATE = """\
You need to evaluate the ‘Response’ in response to the ‘Query’, based on the ‘Instruction’. Your evaluation should be a score from 1 to 10.
**Evaluation Criteria:**
1. **Adherence to Instruction:** Does the answer’s tone, style, and content match the instruction?
2. **Relevance to Query:** Does the answer directly and comprehensively address the user’s query?
3. **Factuality and Helpfulness:** Is the information accurate and useful?
Please review the following:
### Instruction
{instruction}
### Query
{query}
### Response
{response}
""" + _SCORING_GUIDE

POINTWISE_TEMPLATE_NO_INSTRUCTION = """\
You need to evaluate the ‘Response’ in response to the ‘Query’. Your evaluation should be a score from 1 to 10.
**Evaluation Criteria:**
1. **Relevance to Query:** Does the answer directly and comprehensively address the user’s query?
2. **Factuality and Helpfulness:** Is the information accurate and useful?
Please review the following:
### Query
{query}
### Response
{response}
""" + _SCORING_GUIDE

YES_SPELLINGS = ("YES", "Yes", "yes", " YES", " Yes", " yes")
NO_SPELLINGS = ("NO", "No", "no", " NO", " No", " no")
