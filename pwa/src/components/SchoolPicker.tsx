// School picker as in the original Alipay screens: a city filter, a search box, and the list
// grouped by initial letter with an index to jump to a letter.
import type { School } from '../../../protocol/api.ts';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useI18n } from '../i18n.ts';

export function filterSchools(schools: readonly School[], city: string, query: string): School[] {
  const q = query.trim().toLowerCase();
  return schools.filter((school) => (city === '' || school.city === city) && (q === '' || school.name.toLowerCase().includes(q)));
}

export function groupByInitial(schools: readonly School[]): [string, School[]][] {
  const groups = new Map<string, School[]>();
  for (const school of schools) {
    const letter = school.initial.toUpperCase();
    const group = groups.get(letter);
    if (group === undefined) groups.set(letter, [school]);
    else group.push(school);
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function SchoolPicker(props: {
  schools: School[] | null;
  failure: string | null;
  selected_id: string | null;
  onPick: (school: School) => void;
  onClose: () => void;
}) {
  const { t, error } = useI18n();
  const [city, setCity] = useState('');
  const [query, setQuery] = useState('');
  const searchRef = useRef<HTMLInputElement>(null);
  useEffect(() => searchRef.current?.focus(), []);
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') props.onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [props.onClose]);
  const cities = useMemo(() => [...new Set((props.schools ?? []).map((school) => school.city))].sort(), [props.schools]);
  const groups = useMemo(() => groupByInitial(filterSchools(props.schools ?? [], city, query)), [props.schools, city, query]);

  return (
    <div class="picker" role="dialog" aria-modal="true" aria-labelledby="picker-title">
      <header class="bar">
        <h1 id="picker-title">{t('picker_title')}</h1>
        <div class="bar-actions">
          <button type="button" class="bar-link" onClick={props.onClose}>
            {t('picker_close')}
          </button>
        </div>
      </header>
      <div class="picker-filters">
        <label class="field-inline">
          <span>{t('picker_city')}</span>
          <select value={city} onChange={(event) => setCity(event.currentTarget.value)}>
            <option value="">{t('picker_all_cities')}</option>
            {cities.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label class="visually-hidden" for="picker-search">
          {t('picker_search')}
        </label>
        <input
          id="picker-search"
          ref={searchRef}
          type="search"
          placeholder={t('picker_search')}
          value={query}
          onInput={(event) => setQuery(event.currentTarget.value)}
          autocomplete="off"
        />
      </div>
      {props.failure !== null && props.schools === null ? (
        <p class="note note-error" role="alert">
          {error(props.failure)}
        </p>
      ) : props.schools === null ? (
        <p class="muted picker-status">{t('picker_loading')}</p>
      ) : groups.length === 0 ? (
        <p class="empty picker-status">{t('picker_empty')}</p>
      ) : (
        <div class="picker-body">
          <ol class="picker-list">
            {groups.map(([letter, schools]) => (
              <li key={letter} id={`initial-${letter}`} class="picker-group">
                <h2 class="picker-letter">{letter}</h2>
                <ul>
                  {schools.map((school) => (
                    <li key={school.id}>
                      <button
                        type="button"
                        class="picker-school"
                        aria-pressed={school.id === props.selected_id}
                        onClick={() => props.onPick(school)}
                      >
                        <span>{school.name}</span>
                        <span class="muted">{school.city}</span>
                      </button>
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ol>
          <nav class="picker-index" aria-label={t('picker_index')}>
            {groups.map(([letter]) => (
              <a key={letter} href={`#initial-${letter}`} onClick={(event) => {
                event.preventDefault();
                document.getElementById(`initial-${letter}`)?.scrollIntoView?.({ block: 'start' });
              }}>
                {letter}
              </a>
            ))}
          </nav>
        </div>
      )}
    </div>
  );
}
