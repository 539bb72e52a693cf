{#- pandas Styler table for the barometer: header cells carry scope, and the empty corner
    cells of a table with row labels are data cells, not empty headers. -#}
{%- extends "html_table.tpl" -%}
{%- block head_tr scoped %}
    <tr>
{%- for c in r if c.is_visible != False %}
{%- if c.class.startswith("blank") %}
      <td class="{{c.class}}" {{c.attributes}}></td>
{%- else %}
      <th {%- if c.id is defined %} id="T_{{uuid}}_{{c.id}}" {%- endif %} class="{{c.class}}" scope="col" {{c.attributes}}>{{c.display_value}}</th>
{%- endif %}
{%- endfor %}
    </tr>
{%- endblock head_tr %}
{%- block tr scoped %}
    <tr>
{%- for c in r if c.is_visible != False %}
      <{{c.type}} {%- if c.id is defined %} id="T_{{uuid}}_{{c.id}}" {%- endif %} class="{{c.class}}" {%- if c.type == "th" %} scope="row"{%- endif %} {{c.attributes}}>{{c.display_value}}</{{c.type}}>
{%- endfor %}
    </tr>
{%- endblock tr %}
