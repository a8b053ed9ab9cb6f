/**
 * The JSON Schema of scenario files, typed against types.ts with ajv's JSONSchemaType: a schema
 * that drifts from the types does not compile. `scenarioJsonSchema` is the generated document
 * (for editors and the docs); `validateScenarioShape` is its compiled validator.
 *
 * Why ajv and not zod: ajv is already a dependency, it validates against a real JSON Schema that
 * editors (YAML language servers) and the docs can use as is, its errors carry the JSON pointer of
 * the offending value (which the loader maps back to a line and column of the YAML document), and it
 * keeps the one-definition rule: the schema is checked against the TypeScript types at compile time.
 */
import { Ajv, type JSONSchemaType } from 'ajv';
import {
  ADVICE_NAMES,
  BARE_OPS,
  CHECKER_NAMES,
  DEVICE_BARE_OPS,
  DRIVER_NAMES,
  MAP_FLAG_NAMES,
  PROT_NAMES,
  STRATEGY_NAMES,
  type AccessDef,
  type DeviceDef,
  type DeviceOpObject,
  type ExploreDef,
  type FileDef,
  type KernelDef,
  type MappingDef,
  type OpObject,
  type Place,
  type ProcessDef,
  type ScenarioFile,
  type ThreadDef,
} from './types.js';

/** Upper bounds that keep a scenario small enough to explore (and a fuzzer's huge numbers out). */
export const LIMITS = {
  memoryPages: 1 << 20,
  swapPages: 1 << 20,
  hugetlbPages: 1 << 16,
  nodes: 64,
  mappingPages: 1 << 16,
  ops: 10_000,
  sleepNs: 1e12,
  schedules: 10_000_000,
  seed: 2 ** 32 - 1,
  depth: 64,
  preemptionBound: 64,
  maxSteps: 100_000_000,
} as const;

const NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.:-]*$';

const name = { type: 'string', pattern: NAME_PATTERN, minLength: 1, maxLength: 64 } as const;
const int = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum }) as const;
const optInt = (minimum: number, maximum: number) => ({ ...int(minimum, maximum), nullable: true }) as const;
const optName = { ...name, nullable: true } as const;

const protList = {
  type: 'array',
  items: { type: 'string', enum: PROT_NAMES },
  uniqueItems: true,
} as const;
const flagList = {
  type: 'array',
  items: { type: 'string', enum: MAP_FLAG_NAMES },
  uniqueItems: true,
} as const;

/** The place fields every addressed operation shares. */
const placeProps = {
  at: name,
  page: optInt(0, LIMITS.mappingPages - 1),
  pages: optInt(1, LIMITS.mappingPages),
  process: optName,
} as const;

const place: JSONSchemaType<Place> = {
  type: 'object',
  properties: placeProps,
  required: ['at'],
  additionalProperties: false,
};

const sleep = {
  type: 'object',
  properties: { ns: int(1, LIMITS.sleepNs) },
  required: ['ns'],
  additionalProperties: false,
  nullable: true,
} as const;

const readOp = {
  type: 'object',
  properties: { ...placeProps, byte: optInt(0, 255) },
  required: ['at'],
  additionalProperties: false,
  nullable: true,
} as const;

const writeOp = {
  type: 'object',
  properties: { ...placeProps, byte: int(0, 255) },
  required: ['at', 'byte'],
  additionalProperties: false,
  nullable: true,
} as const;

const opObject: JSONSchemaType<OpObject> = {
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  additionalProperties: false,
  properties: {
    mmap: {
      type: 'object',
      properties: {
        name,
        pages: int(1, LIMITS.mappingPages),
        prot: protList,
        flags: flagList,
        file: optName,
        process: optName,
      },
      required: ['name', 'pages', 'prot', 'flags'],
      additionalProperties: false,
      nullable: true,
    },
    write: writeOp,
    read: readOp,
    fork: {
      type: 'object',
      properties: { child: optName, process: optName },
      additionalProperties: false,
      nullable: true,
    },
    munmap: { ...place, nullable: true },
    mprotect: {
      type: 'object',
      properties: { ...placeProps, prot: protList },
      required: ['at', 'prot'],
      additionalProperties: false,
      nullable: true,
    },
    madvise: {
      type: 'object',
      properties: { ...placeProps, advice: { type: 'string', enum: ADVICE_NAMES } },
      required: ['at', 'advice'],
      additionalProperties: false,
      nullable: true,
    },
    mremap: {
      type: 'object',
      properties: {
        ...placeProps,
        newPages: int(1, LIMITS.mappingPages),
        mayMove: { type: 'boolean', nullable: true },
      },
      required: ['at', 'newPages'],
      additionalProperties: false,
      nullable: true,
    },
    exit: {
      type: 'object',
      properties: { process: optName, code: optInt(0, 255) },
      additionalProperties: false,
      nullable: true,
    },
    reclaim: {
      type: 'object',
      properties: { pages: optInt(1, LIMITS.memoryPages) },
      additionalProperties: false,
      nullable: true,
    },
    migrate: {
      type: 'object',
      properties: { ...placeProps, node: int(0, LIMITS.nodes - 1) },
      required: ['at', 'node'],
      additionalProperties: false,
      nullable: true,
    },
    'oom-kill': {
      type: 'object',
      properties: { process: optName },
      additionalProperties: false,
      nullable: true,
    },
    sleep,
  },
};

/** An operation: a bare word (`fork`) or an object with exactly one key (`{ write: {...} }`). */
const op = {
  oneOf: [{ type: 'string', enum: BARE_OPS }, opObject],
} as unknown as JSONSchemaType<OpObject>;

const mapping: JSONSchemaType<MappingDef> = {
  type: 'object',
  properties: {
    name,
    pages: int(1, LIMITS.mappingPages),
    prot: protList,
    flags: flagList,
    file: optName,
  },
  required: ['name', 'pages', 'prot', 'flags'],
  additionalProperties: false,
};

const thread: JSONSchemaType<ThreadDef> = {
  type: 'object',
  properties: {
    name,
    ops: { type: 'array', items: op, maxItems: LIMITS.ops },
  },
  required: ['name', 'ops'],
  additionalProperties: false,
} as unknown as JSONSchemaType<ThreadDef>;

const processDef: JSONSchemaType<ProcessDef> = {
  type: 'object',
  properties: {
    name,
    mappings: { type: 'array', items: mapping, nullable: true, maxItems: 1024 },
    threads: { type: 'array', items: thread, nullable: true, maxItems: 64 },
  },
  required: ['name'],
  additionalProperties: false,
};

const fileDef: JSONSchemaType<FileDef> = {
  type: 'object',
  properties: { name, pages: int(1, LIMITS.mappingPages) },
  required: ['name', 'pages'],
  additionalProperties: false,
};

const kernel: JSONSchemaType<KernelDef> = {
  type: 'object',
  properties: {
    memoryPages: optInt(1, LIMITS.memoryPages),
    swapPages: optInt(0, LIMITS.swapPages),
    hugetlbPages: optInt(0, LIMITS.hugetlbPages),
    nodes: optInt(1, LIMITS.nodes),
  },
  additionalProperties: false,
};

const device: JSONSchemaType<DeviceDef> = {
  type: 'object',
  properties: {
    name,
    driver: { type: 'string', enum: DRIVER_NAMES },
    attach: {
      oneOf: [
        name,
        {
          type: 'object',
          properties: {
            process: name,
            mapping: name,
            access: { type: 'string', enum: ['r', 'rw'], nullable: true },
          },
          required: ['process', 'mapping'],
          additionalProperties: false,
        },
      ],
    },
    options: { type: 'object', nullable: true, required: [] },
    attachOptions: {
      type: 'object',
      nullable: true,
      required: [],
      description:
        "the driver's attach options besides the region (e.g. odp `implicit: true`); `start` and `length` come from the mapping",
    },
  },
  required: ['name', 'driver', 'attach'],
  additionalProperties: false,
} as unknown as JSONSchemaType<DeviceDef>;

const deviceOp: JSONSchemaType<DeviceOpObject> = {
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  additionalProperties: false,
  properties: {
    read: readOp,
    write: writeOp,
    atomic: {
      type: 'object',
      properties: { ...placeProps, add: int(-(2 ** 31), 2 ** 31 - 1) },
      required: ['at', 'add'],
      additionalProperties: false,
      nullable: true,
    },
    sleep,
  },
};

/** A device step: a bare word (`attach`, `detach`) or an object with exactly one key. */
const deviceStep = {
  oneOf: [
    {
      type: 'string',
      enum: DEVICE_BARE_OPS,
      description:
        '`attach` mirrors the process now (a device with an `attach` step in any of its threads is not attached at start); `detach` stops mirroring (hmm_mirror_unregister, ib_umem_odp_release, the GPU unbind); accesses of a device not attached are skipped',
    },
    deviceOp,
  ],
} as unknown as JSONSchemaType<DeviceOpObject>;

const access: JSONSchemaType<AccessDef> = {
  type: 'object',
  properties: {
    device: name,
    name: optName,
    ops: { type: 'array', items: deviceStep, maxItems: LIMITS.ops },
  },
  required: ['device', 'ops'],
  additionalProperties: false,
} as unknown as JSONSchemaType<AccessDef>;

/**
 * Switch settings: names of the `layer.name` form to booleans (which names exist is checked
 * against the registered switches by validate.ts, with a suggestion for a misspelt one).
 */
const switchesDef = {
  type: 'object',
  description:
    'behaviour switches of every run, by name (see [Switches](#switches)); recorded in each replay token',
  propertyNames: { type: 'string', maxLength: 64 },
  additionalProperties: { type: 'boolean' },
  required: [],
  maxProperties: 64,
  nullable: true,
} as const;

const exploreDef: JSONSchemaType<ExploreDef> = {
  type: 'object',
  properties: {
    strategy: { type: 'string', enum: STRATEGY_NAMES, nullable: true },
    schedules: optInt(1, LIMITS.schedules),
    seed: optInt(0, LIMITS.seed),
    depth: optInt(1, LIMITS.depth),
    preemptionBound: optInt(0, LIMITS.preemptionBound),
    maxSteps: optInt(1, LIMITS.maxSteps),
  },
  additionalProperties: false,
};

/** The JSON Schema of a scenario file (draft-07, as ajv's default). */
export const scenarioJsonSchema: JSONSchemaType<ScenarioFile> = {
  $id: 'mirrorlab/scenario.schema.json',
  title: 'mirrorlab scenario',
  type: 'object',
  properties: {
    name: optName,
    description: { type: 'string', minLength: 1, maxLength: 10_000 },
    summary: { type: 'string', nullable: true, maxLength: 200 },
    kernel: { ...kernel, nullable: true },
    files: { type: 'array', items: fileDef, nullable: true, maxItems: 64 },
    processes: { type: 'array', items: processDef, minItems: 1, maxItems: 64 },
    devices: { type: 'array', items: device, nullable: true, maxItems: 16 },
    accesses: { type: 'array', items: access, nullable: true, maxItems: 64 },
    checkers: {
      type: 'array',
      description:
        'the checkers to run (default: all): those listed are on, the others off; coherence, page-lifetime, lost-writes and liveness are the switches check.* of the run',
      items: { type: 'string', enum: CHECKER_NAMES },
      nullable: true,
      uniqueItems: true,
    },
    expect: { type: 'string', pattern: '^[a-z][a-z0-9-]*$', nullable: true, maxLength: 64 },
    explore: { ...exploreDef, nullable: true },
    switches: switchesDef,
  },
  required: ['description', 'processes'],
  additionalProperties: false,
};

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });

/** The compiled validator; its `errors` are ajv's, translated by validate.ts. */
export const validateScenarioShape = ajv.compile<ScenarioFile>(scenarioJsonSchema);
