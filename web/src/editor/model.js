// Reading and changing the spiffworkflow extension of service tasks.
//
// A service task names its operator like this (see bpmn/quick.bpmn):
//
//   <bpmn:extensionElements>
//     <spiffworkflow:serviceTaskOperator id="llm.generate" resultVariable="code">
//       <spiffworkflow:parameters>
//         <spiffworkflow:parameter id="template" type="str" value="'implement'" />
//       </spiffworkflow:parameters>
//     </spiffworkflow:serviceTaskOperator>
//   </bpmn:extensionElements>
//
// Every change is returned as a list of 'element.updateModdleProperties' commands for the
// properties panel's multi-command executor, so one edit is one undoable step.
//
// Extension elements are created with moddle.create, not bpmnFactory.create: the factory
// claims any `id` in the diagram's id registry, and operator names and parameter names are
// not BPMN element ids (two tasks may both use run.finish).

import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';

export const OPERATOR_TYPE = 'spiffworkflow:ServiceTaskOperator';
export const PARAMETERS_TYPE = 'spiffworkflow:Parameters';
export const PARAMETER_TYPE = 'spiffworkflow:Parameter';

const TYPE_NAMES = { string: 'str', integer: 'int', number: 'float', boolean: 'bool' };

/** The spiffworkflow:serviceTaskOperator of a task, or undefined. */
export function getOperatorElement(element) {
  const bo = getBusinessObject(element);
  const ext = bo && bo.get('extensionElements');
  const values = (ext && ext.get('values')) || [];
  return values.find((value) => is(value, OPERATOR_TYPE));
}

/** The spiffworkflow:parameter elements of an operator element (possibly empty). */
export function getParameterElements(operatorElement) {
  const params = operatorElement && operatorElement.get('parameters');
  return (params && params.get('parameterList')) || [];
}

/** The spiffworkflow type attribute for a JSON-schema property. */
export function schemaTypeName(schema) {
  return (schema && TYPE_NAMES[schema.type]) || 'any';
}

/**
 * The declared parameters of an operator from GET /api/operators, in schema order:
 * [{ name, schema, required }].
 */
export function operatorParameters(operator) {
  const schema = (operator && operator.parameters) || {};
  const properties = schema.properties || {};
  const required = new Set(schema.required || []);
  return Object.keys(properties).map((name) => ({
    name,
    schema: properties[name] || {},
    required: required.has(name),
  }));
}

function update(element, moddleElement, properties) {
  return {
    cmd: 'element.updateModdleProperties',
    context: { element, moddleElement, properties },
  };
}

function createParameter(moddle, parent, id, type, value) {
  const param = moddle.create(PARAMETER_TYPE, { id, type, value });
  param.$parent = parent;
  return param;
}

/**
 * Commands that make `element` (a service task) use operator `name`.
 *
 * The parameter list is rewritten to the new operator's declared parameters, keeping the
 * values of parameters with the same name; parameters without a value are left out (an
 * empty value is not a valid expression). An empty name removes the operator element.
 * When the new operator is not known (operators not loaded), every parameter is kept.
 *
 * @param {Object} element diagram element of a bpmn:ServiceTask
 * @param {string} name operator name
 * @param {{ moddle: Object, bpmnFactory: Object, getOperator: (name: string) => Object }} services
 */
export function setOperatorCommands(element, name, { moddle, bpmnFactory, getOperator }) {
  const bo = getBusinessObject(element);
  const commands = [];
  let ext = bo.get('extensionElements');
  const current = getOperatorElement(element);

  if (!name) {
    if (current) {
      commands.push(update(element, ext, {
        values: ext.get('values').filter((value) => value !== current),
      }));
    }
    return commands;
  }

  const operator = getOperator(name);
  const oldParams = getParameterElements(current);
  const parameters = moddle.create(PARAMETERS_TYPE, { parameterList: [] });
  const list = [];
  if (operator) {
    const byName = new Map(oldParams.map((param) => [ param.get('id'), param ]));
    for (const { name: paramName, schema } of operatorParameters(operator)) {
      const old = byName.get(paramName);
      if (old && old.get('value')) {
        list.push(createParameter(moddle, parameters, paramName, schemaTypeName(schema), old.get('value')));
      }
    }
  } else {
    for (const old of oldParams) {
      list.push(createParameter(moddle, parameters, old.get('id'), old.get('type'), old.get('value')));
    }
  }
  parameters.set('parameterList', list);

  if (current) {
    parameters.$parent = current;
    commands.push(update(element, current, { id: name, parameters }));
    return commands;
  }

  if (!ext) {
    ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    ext.$parent = bo;
    commands.push(update(element, bo, { extensionElements: ext }));
  }
  const operatorElement = moddle.create(OPERATOR_TYPE, { id: name, parameters });
  parameters.$parent = operatorElement;
  operatorElement.$parent = ext;
  commands.push(update(element, ext, { values: [ ...(ext.get('values') || []), operatorElement ] }));
  return commands;
}

/** Commands that set (or, with an empty value, remove) the result variable. */
export function setResultVariableCommands(element, value) {
  const current = getOperatorElement(element);
  if (!current) {
    return [];
  }
  return [ update(element, current, { resultVariable: value || undefined }) ];
}

/**
 * Commands that set parameter `paramName` of the task's operator to `value` (a Python
 * expression); an empty value removes the parameter. A new parameter is placed in the
 * operator's schema order and gets its type from the schema.
 */
export function setParameterCommands(element, paramName, value, { moddle, getOperator }) {
  const current = getOperatorElement(element);
  if (!current) {
    return [];
  }
  const commands = [];
  let parameters = current.get('parameters');
  if (!parameters) {
    parameters = moddle.create(PARAMETERS_TYPE, { parameterList: [] });
    parameters.$parent = current;
    commands.push(update(element, current, { parameters }));
  }
  const list = parameters.get('parameterList') || [];
  const existing = list.find((param) => param.get('id') === paramName);
  const declared = operatorParameters(getOperator(current.get('id')));
  const declaration = declared.find((param) => param.name === paramName);

  if (!value) {
    if (existing) {
      commands.push(update(element, parameters, {
        parameterList: list.filter((param) => param !== existing),
      }));
    }
    return commands;
  }

  if (existing) {
    const properties = { value };
    if (declaration) {
      properties.type = schemaTypeName(declaration.schema);
    }
    commands.push(update(element, existing, properties));
    return commands;
  }

  const type = declaration ? schemaTypeName(declaration.schema) : 'any';
  const param = createParameter(moddle, parameters, paramName, type, value);
  const order = new Map(declared.map((p, index) => [ p.name, index ]));
  const rank = (p) => (order.has(p.get('id')) ? order.get(p.get('id')) : declared.length);
  const next = [ ...list, param ].map((p, index) => ({ p, index }))
    .sort((a, b) => (rank(a.p) - rank(b.p)) || (a.index - b.index))
    .map(({ p }) => p);
  commands.push(update(element, parameters, { parameterList: next }));
  return commands;
}

/**
 * The single service task feeding a gateway, or a reason why there is none.
 *
 * @return {{ source: Object } | { reason: string }}
 */
export function decisionSource(gateway) {
  const incoming = (gateway.incoming || []).filter((c) => is(c, 'bpmn:SequenceFlow'));
  if (incoming.length === 0) {
    return { reason: 'No incoming flow. Connect the service task that makes the decision (e.g. operator decide.next) to this gateway.' };
  }
  if (incoming.length > 1) {
    return { reason: `This gateway has ${incoming.length} incoming flows. The decision operator is set on a service task that is the only source of the gateway; join the flows before that task.` };
  }
  const source = incoming[0].source;
  if (!source || !is(source, 'bpmn:ServiceTask')) {
    const name = source ? (getBusinessObject(source).name || source.id) : 'nothing';
    return { reason: `The incoming flow comes from “${name}”, which is not a service task. Conditions on the outgoing flows read the result of the decision task placed right before the gateway.` };
  }
  return { source };
}
