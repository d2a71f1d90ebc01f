"""`{% render_panel panel %}`: render a customer-page panel (customers.panels.Shown) with its own context
on top of the page's, as `{% include %}` does with `with`."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def render_panel(context, panel):
    tmpl = context.template.engine.get_template(panel.template)
    with context.push(panel.context):
        return tmpl.render(context)
