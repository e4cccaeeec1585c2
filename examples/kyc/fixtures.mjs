// Deterministic, entirely made-up fixture data for the KYC example servers.
// Every company, person, list and source below is fictional.

/** Company registry, keyed by company number. */
export const COMPANIES = {
  'GB-10001': {
    company_number: 'GB-10001',
    legal_name: 'Albion Widget Works Ltd',
    jurisdiction: 'GB',
    incorporated: '2011-03-14',
    beneficial_owners: [
      { name: 'Harriet Mole', ownership_pct: 60 },
      { name: 'Tobias Finch', ownership_pct: 40 }
    ],
    filings: [
      { type: 'confirmation_statement', date: '2025-03-01' },
      { type: 'annual_accounts', date: '2024-12-18' },
      { type: 'change_of_directors', date: '2023-07-02' }
    ]
  },
  'DE-20002': {
    company_number: 'DE-20002',
    legal_name: 'Rheinbruecke Handels GmbH',
    jurisdiction: 'DE',
    incorporated: '2016-09-30',
    beneficial_owners: [
      { name: 'Klaus Vetterling', ownership_pct: 55 },
      { name: 'Mira Albrechtsen', ownership_pct: 45 }
    ],
    filings: [
      { type: 'annual_accounts', date: '2025-06-30' },
      { type: 'shareholder_list', date: '2024-11-05' }
    ]
  },
  'FR-30003': {
    company_number: 'FR-30003',
    legal_name: 'Societe Lumiere du Nord SAS',
    jurisdiction: 'FR',
    incorporated: '2008-01-22',
    beneficial_owners: [
      { name: 'Celine Marchetti', ownership_pct: 50 },
      { name: 'Olivier Dufayel', ownership_pct: 30 },
      { name: 'Anouk Brelot', ownership_pct: 20 }
    ],
    filings: [
      { type: 'annual_accounts', date: '2025-05-15' },
      { type: 'registered_office_change', date: '2022-02-10' }
    ]
  },
  'NL-40004': {
    company_number: 'NL-40004',
    legal_name: 'Oranjekade Maritime Trading BV',
    jurisdiction: 'NL',
    incorporated: '2019-06-11',
    beneficial_owners: [
      { name: 'Pieter Zwartveld', ownership_pct: 70 },
      { name: 'Sanne van Dijkhuis', ownership_pct: 30 }
    ],
    filings: [
      { type: 'annual_accounts', date: '2025-04-01' },
      { type: 'ubo_register_update', date: '2024-09-19' },
      { type: 'change_of_directors', date: '2024-01-08' }
    ]
  }
};

/** Company numbers in a stable order (the orchestrator cycles through these). */
export const COMPANY_NUMBERS = Object.keys(COMPANIES);

/**
 * Sanctions list entries. A name matches when it is equal after normalisation
 * (case, surrounding/double spaces) and the entity type is the same. `score` >= 0.9
 * counts as a hit (sanctions_clear false); lower scores are reported as weak
 * matches but leave the entity clear.
 */
export const SANCTIONS = [
  { name: 'Oranjekade Maritime Trading BV', entity_type: 'company', list: 'EU-CFSP-FICTIONAL', score: 0.97 },
  { name: 'Pieter Zwartveld', entity_type: 'person', list: 'UN-SC-FICTIONAL', score: 0.93 },
  // A weak, non-blocking match so one clear screening still carries a `matches` entry.
  { name: 'Olivier Dufayel', entity_type: 'person', list: 'OFAC-SDN-FICTIONAL', score: 0.41 }
];

export const SANCTIONS_HIT_THRESHOLD = 0.9;

/** Politically exposed persons, keyed by normalised name. */
export const PEPS = {
  'mira albrechtsen': 'Member of a State Parliament (fictional)',
  'sanne van dijkhuis': 'Deputy Mayor (fictional)'
};

/** Sources the PEP server claims to consult. */
export const PEP_SOURCES = [
  { id: 'eu-pep-fixture', name: 'EU PEP register (fixture)', updated: '2025-01-01' },
  { id: 'national-parliaments-fixture', name: 'National parliaments (fixture)', updated: '2025-02-15' },
  { id: 'municipal-officials-fixture', name: 'Municipal officials (fixture)', updated: '2024-12-01' }
];

/** Baseline jurisdiction risk used by the risk server (0-100 scale contribution). */
export const JURISDICTION_RISK = { GB: 10, DE: 10, FR: 15, NL: 15 };
export const DEFAULT_JURISDICTION_RISK = 30;

export function normaliseName(name) {
  return String(name).trim().replace(/\s+/g, ' ').toLowerCase();
}
