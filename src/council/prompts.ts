import type { Stage1Result, Stage2Result } from './types.ts'

/** Changes whenever a prompt's wording changes; every stored answer records the version that produced it. */
export const PROMPTS_VERSION = 2

/** "Response A", "Response B"... for the n-th answer. */
export const responseLabel = (index: number) => `Response ${String.fromCharCode(65 + index)}`

export function rankingPrompt(question: string, answers: Stage1Result[]): string {
  const responses = answers.map((answer, i) => `${responseLabel(i)}:\n${answer.response}`).join('\n\n')
  return `You are evaluating different responses to the following question:

Question: ${question}

Here are the responses from different models (anonymized):

${responses}

Your task:
1. First, evaluate each response individually. For each response, explain what it does well and what it does poorly.
2. Then, at the very end of your response, provide a final ranking.

IMPORTANT: Your final ranking MUST be formatted EXACTLY as follows:
- Start with the line "FINAL RANKING:" (all caps, with colon)
- Then list the responses from best to worst as a numbered list
- Each line should be: number, period, space, then ONLY the response label (e.g., "1. Response A")
- Do not add any other text or explanations in the ranking section

Example of the correct format for your ENTIRE response:

Response A provides good detail on X but misses Y...
Response B is accurate but lacks depth on Z...
Response C offers the most comprehensive answer...

FINAL RANKING:
1. Response C
2. Response A
3. Response B

Now provide your evaluation and ranking:`
}

export function chairmanPrompt(question: string, answers: Stage1Result[], rankings: Stage2Result[], reviewed = true): string {
  const stage1 = answers.map((a) => `Model: ${a.model}\nResponse: ${a.response}`).join('\n\n')
  const stage2 = rankings.map((r) => `Model: ${r.model}\nRanking: ${r.ranking}`).join('\n\n')
  return `You are the Chairman of an LLM Council. Multiple AI models have provided responses to a user's question, and then ranked each other's responses.

Original Question: ${question}

STAGE 1 - Individual Responses:
${stage1}

STAGE 2 - Peer Rankings:
${stage2 || (reviewed ? '(no rankings were returned)' : '(this council does not rank its answers)')}

Your task as Chairman is to synthesize all of this information into a single, comprehensive, accurate answer to the user's original question. Consider:
- The individual responses and their insights
- The peer rankings and what they reveal about response quality
- Any patterns of agreement or disagreement

Provide a clear, well-reasoned final answer that represents the council's collective wisdom:`
}

export function titlePrompt(question: string): string {
  return `Generate a very short title (3-5 words maximum) that summarizes the following question.
The title should be concise and descriptive. Do not use quotes or punctuation in the title.

Question: ${question}

Title:`
}
