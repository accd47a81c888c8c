import { api } from './api.js'
import { h } from './dom.js'

let councilInfo = null

/** GET /api/council, asked once per page load. */
export async function councilOptions() {
  councilInfo ??= api.council().catch((error) => {
    councilInfo = null
    throw error
  })
  return councilInfo
}

const shortName = (model) => String(model ?? '').split('/').pop()

/** One line naming a conversation's council: its preset, or its own models and chairman. */
export function councilSummary(choice, info) {
  const preset = info?.presets.find((p) => p.name === (choice?.preset ?? 'default'))
  const models = choice?.models ?? preset?.models ?? []
  const chairman = choice?.chairman ?? preset?.chairman
  const name = choice?.models ? 'Custom' : (preset?.name ?? 'default')
  return `${name}: ${models.map(shortName).join(', ')}${chairman ? ` · chair ${shortName(chairman)}` : ''}`
}

/**
 * A form to choose a council: a preset, and optionally models and a chairman of the allowed ones.
 * `onChoose(choice)` gets `{preset?, models?, chairman?}` (or `{}` for the default).
 */
export function councilPicker(info, current, onChoose, { submitLabel = 'Use this council' } = {}) {
  const presetSelect = h('select', { name: 'preset', 'aria-label': 'Preset' },
    ...info.presets.map((preset) => h('option', { value: preset.name, selected: (current?.preset ?? 'default') === preset.name ? true : undefined },
      preset.description ? `${preset.name}: ${preset.description}` : preset.name)))
  const chosen = new Set(current?.models ?? [])
  const boxes = info.allowed_models.map((model) =>
    h('label', { className: 'model-choice' }, h('input', { type: 'checkbox', name: 'models', value: model, checked: chosen.has(model) ? true : undefined }), ` ${model}`))
  const chairSelect = h('select', { name: 'chairman', 'aria-label': 'Chairman' },
    h('option', { value: '' }, "the preset's chairman"),
    ...info.allowed_models.map((model) => h('option', { value: model, selected: current?.chairman === model ? true : undefined }, model)))
  const form = h('form', { className: 'council-picker' },
    h('label', {}, 'Preset ', presetSelect),
    h('fieldset', {}, h('legend', {}, 'Or pick the models (none ticked: the preset\'s)'), ...boxes),
    h('label', {}, 'Chairman ', chairSelect),
    h('p', { className: 'note' }, `The models see up to ${info.context_chars.toLocaleString()} characters of the conversation so far (the oldest exchanges are left out first).`),
    h('button', { type: 'submit' }, submitLabel))
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const models = [...form.querySelectorAll('input[name=models]:checked')].map((box) => box.value)
    const choice = {}
    if (presetSelect.value !== 'default') choice.preset = presetSelect.value
    if (models.length > 0) choice.models = models
    if (chairSelect.value) choice.chairman = chairSelect.value
    onChoose(choice)
  })
  return form
}
