// The "WeaverGen" group of the properties panel: operator, result variable and parameters
// of service tasks, the decision operator behind exclusive/inclusive gateways, and the
// condition of flows leaving those gateways. Every edit goes through the command stack.

import { h } from '@bpmn-io/properties-panel/preact';
import { useEffect, useState } from '@bpmn-io/properties-panel/preact/hooks';
import {
  Group,
  SelectEntry,
  TextFieldEntry,
  isSelectEntryEdited,
  isTextFieldEntryEdited,
} from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { getBusinessObject, is, isAny } from 'bpmn-js/lib/util/ModelUtil';

import {
  decisionSource,
  getOperatorElement,
  getParameterElements,
  operatorParameters,
  schemaTypeName,
  setOperatorCommands,
  setParameterCommands,
  setResultVariableCommands,
} from './model.js';

const PRIORITY = 500; // after the standard BPMN provider, so its "General" group exists
const GATEWAYS = [ 'bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway' ];
const MULTI = 'properties-panel.multi-command-executor';

function truncate(text, max) {
  if (!text || text.length <= max) {
    return text || '';
  }
  return `${text.slice(0, max - 1).trimEnd()}…`;
}

/**
 * Keeps the operator list (GET /api/operators) and contributes the WeaverGen group.
 */
export class WeaverGenPropertiesProvider {
  constructor(propertiesPanel, eventBus) {
    this._eventBus = eventBus;
    this._operators = null;
    propertiesPanel.registerProvider(PRIORITY, this);
  }

  /** Replace the operator list and redraw the panel. */
  setOperators(operators) {
    this._operators = Array.isArray(operators) ? operators : [];
    this._eventBus.fire('propertiesPanel.providersChanged');
  }

  /** Every operator, or null while they are not loaded. */
  getOperators() {
    return this._operators;
  }

  getOperator(name) {
    return (this._operators || []).find((op) => op.name === name);
  }

  getGroups(element) {
    return (groups) => {
      const group = this._group(element);
      if (group) {
        const general = groups.findIndex((g) => g.id === 'general');
        groups.splice(general >= 0 ? general + 1 : 0, 0, group);
      }
      return groups;
    };
  }

  _group(element) {
    if (!element || Array.isArray(element)) {
      return null;
    }
    let entries = [];
    if (is(element, 'bpmn:ServiceTask')) {
      entries = serviceTaskEntries(element, this);
    } else if (isAny(element, GATEWAYS)) {
      entries = [ { id: 'wg-decisionOperator', component: DecisionOperator, isEdited: isSelectEntryEdited } ];
    } else if (is(element, 'bpmn:SequenceFlow') && element.source && isAny(element.source, GATEWAYS)) {
      entries = [ { id: 'wg-condition', component: Condition, isEdited: isTextFieldEntryEdited } ];
    }
    if (!entries.length) {
      return null;
    }
    return { id: 'weavergen', label: 'WeaverGen', component: Group, shouldOpen: true, entries };
  }
}

WeaverGenPropertiesProvider.$inject = [ 'propertiesPanel', 'eventBus' ];

function serviceTaskEntries(element, provider) {
  const entries = [
    { id: 'wg-operator', component: Operator, isEdited: isSelectEntryEdited },
    { id: 'wg-resultVariable', component: ResultVariable, isEdited: isTextFieldEntryEdited },
  ];
  const operatorElement = getOperatorElement(element);
  if (!operatorElement) {
    return entries;
  }
  const declared = operatorParameters(provider.getOperator(operatorElement.get('id')));
  const names = new Set(declared.map((p) => p.name));
  for (const param of declared) {
    entries.push({
      id: `wg-param-${param.name}`,
      component: Parameter,
      isEdited: isTextFieldEntryEdited,
      paramName: param.name,
      declaration: param,
    });
  }
  for (const param of getParameterElements(operatorElement)) {
    const name = param.get('id');
    if (name && !names.has(name)) {
      names.add(name);
      entries.push({
        id: `wg-param-${name}`,
        component: Parameter,
        isEdited: isTextFieldEntryEdited,
        paramName: name,
        declaration: null,
      });
    }
  }
  return entries;
}

/** Services the model helpers need, from inside a panel component. */
function useModelServices() {
  const moddle = useService('moddle');
  const bpmnFactory = useService('bpmnFactory');
  const provider = useService('weavergenProperties');
  return { moddle, bpmnFactory, getOperator: (name) => provider.getOperator(name) };
}

function execute(commandStack, commands) {
  if (commands.length) {
    commandStack.execute(MULTI, commands);
  }
}

function operatorOptions(operators, current, filter) {
  const options = [ { value: '', label: '(no operator)' } ];
  const shown = (operators || []).filter(filter || (() => true));
  for (const op of shown) {
    options.push({ value: op.name, label: op.description ? `${op.name} — ${truncate(op.description, 48)}` : op.name });
  }
  if (current && !shown.some((op) => op.name === current)) {
    const known = (operators || []).some((op) => op.name === current);
    const note = operators === null ? '' : known ? ' (not a decision operator)' : ' (unknown operator)';
    options.push({ value: current, label: `${current}${note}` });
  }
  return options;
}

function Operator(props) {
  const { element, id } = props;
  const commandStack = useService('commandStack');
  const provider = useService('weavergenProperties');
  const services = useModelServices();
  const operatorElement = getOperatorElement(element);
  const current = (operatorElement && operatorElement.get('id')) || '';
  const operator = provider.getOperator(current);
  return h(SelectEntry, {
    element,
    id,
    label: 'Operator',
    description: operator ? operator.description : (current && provider.getOperators() ? 'Not an operator this server knows.' : undefined),
    getValue: () => current,
    setValue: (value) => execute(commandStack, setOperatorCommands(element, value, services)),
    getOptions: () => operatorOptions(provider.getOperators(), current),
  });
}

function ResultVariable(props) {
  const { element, id } = props;
  const commandStack = useService('commandStack');
  const debounce = useService('debounceInput');
  const operatorElement = getOperatorElement(element);
  return h(TextFieldEntry, {
    element,
    id,
    label: 'Result variable',
    description: operatorElement ? 'Task data variable that receives the operator\'s result.' : 'Choose an operator first.',
    disabled: !operatorElement,
    debounce,
    getValue: () => (operatorElement && operatorElement.get('resultVariable')) || '',
    setValue: (value) => execute(commandStack, setResultVariableCommands(element, value)),
  });
}

function parameterDescription(declaration, operatorName) {
  if (!declaration) {
    return `Not declared by ${operatorName}; passed through as an extra input.`;
  }
  const parts = [ declaration.required ? 'required' : 'optional', schemaTypeName(declaration.schema) ];
  if (declaration.schema.default !== undefined) {
    parts.push(`default ${JSON.stringify(declaration.schema.default)}`);
  }
  if (declaration.schema.description) {
    parts.push(declaration.schema.description);
  }
  return `${parts.join(' · ')} — a Python expression (quote strings: 'text')`;
}

function Parameter(props) {
  const { element, id, paramName, declaration } = props;
  const commandStack = useService('commandStack');
  const debounce = useService('debounceInput');
  const services = useModelServices();
  const operatorElement = getOperatorElement(element);
  const operatorName = (operatorElement && operatorElement.get('id')) || '';
  const getValue = () => {
    const param = getParameterElements(getOperatorElement(element)).find((p) => p.get('id') === paramName);
    return (param && param.get('value')) || '';
  };
  return h(TextFieldEntry, {
    element,
    id,
    label: declaration && declaration.required ? `${paramName} *` : paramName,
    description: parameterDescription(declaration, operatorName),
    debounce,
    getValue,
    setValue: (value) => execute(commandStack, setParameterCommands(element, paramName, value, services)),
    validate: declaration && declaration.required ?
      (value) => (value ? null : `Required by ${operatorName}.`) : undefined,
  });
}

/** Redraw when one of `elements` changes (the panel only follows the selected element). */
function useChangesOf(elements) {
  const eventBus = useService('eventBus');
  const [ , setTick ] = useState(0);
  useEffect(() => {
    const watched = elements.filter(Boolean);
    if (!watched.length) {
      return undefined;
    }
    const onChanged = (event) => {
      if (event.elements.some((changed) => watched.includes(changed))) {
        setTick((tick) => tick + 1);
      }
    };
    eventBus.on('elements.changed', onChanged);
    return () => eventBus.off('elements.changed', onChanged);
  }, [ eventBus, ...elements ]);
}

function DecisionOperator(props) {
  const { element, id } = props;
  const commandStack = useService('commandStack');
  const provider = useService('weavergenProperties');
  const services = useModelServices();
  const found = decisionSource(element);
  useChangesOf([ found.source ]);

  if (!found.source) {
    return h('div', { class: 'bio-properties-panel-entry wg-note', 'data-entry-id': id },
      h('p', { class: 'bio-properties-panel-description' }, found.reason));
  }

  const source = found.source;
  const operatorElement = getOperatorElement(source);
  const current = (operatorElement && operatorElement.get('id')) || '';
  const resultVariable = operatorElement && operatorElement.get('resultVariable');
  const name = getBusinessObject(source).name || source.id;
  const description = `Set on the task “${name}” (${source.id}) before this gateway` +
    (resultVariable ? `; outgoing conditions read its result “${resultVariable}”.` : '.');
  return h(SelectEntry, {
    element,
    id,
    label: 'Decision operator',
    description,
    getValue: () => current,
    setValue: (value) => execute(commandStack, setOperatorCommands(source, value, services)),
    getOptions: () => operatorOptions(provider.getOperators(), current, (op) => op.decision),
  });
}

function Condition(props) {
  const { element, id } = props;
  const modeling = useService('modeling');
  const commandStack = useService('commandStack');
  const bpmnFactory = useService('bpmnFactory');
  const debounce = useService('debounceInput');
  const bo = getBusinessObject(element);
  const gateway = getBusinessObject(element.source);
  const isDefault = gateway && gateway.get('default') === bo;
  const getValue = () => {
    const expression = getBusinessObject(element).get('conditionExpression');
    return (expression && expression.get('body')) || '';
  };
  const setValue = (value) => {
    const expression = bo.get('conditionExpression');
    if (!value) {
      if (expression) {
        modeling.updateProperties(element, { conditionExpression: undefined });
      }
      return;
    }
    if (expression) {
      commandStack.execute('element.updateModdleProperties', {
        element,
        moddleElement: expression,
        properties: { body: value },
      });
      return;
    }
    const created = bpmnFactory.create('bpmn:FormalExpression', { body: value });
    created.$parent = bo;
    modeling.updateProperties(element, { conditionExpression: created });
  };
  return h(TextFieldEntry, {
    element,
    id,
    label: 'Condition',
    description: isDefault ?
      'This is the gateway\'s default flow: it is taken when no other condition holds, so a condition here is ignored.' :
      'Python expression on task data, e.g. next[\'choice\'] == \'improve\'. Empty: no condition.',
    debounce,
    getValue,
    setValue,
  });
}

export default {
  __init__: [ 'weavergenProperties' ],
  weavergenProperties: [ 'type', WeaverGenPropertiesProvider ],
};
